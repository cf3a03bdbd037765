// Validation of the github provider's config section: every problem with its full path.
import { afterAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { parseConfig } from '../../../src/config/load.js'
import { ConfigError } from '../../../src/errors.js'
import { EXAMPLE, exampleLoadOptions } from '../../support/example-config.js'

const { opts: OPTS, cleanup } = exampleLoadOptions('github-config')
afterAll(cleanup)

/** The example with edits to its github provider, then its problems (paths under `providers[i]`). */
function problems(edit: (gh: Record<string, any>) => void) {
  const doc = parse(EXAMPLE) as Record<string, any>
  const i = doc['providers'].findIndex((p: { type: string }) => p.type === 'github')
  edit(doc['providers'][i])
  try {
    const config = parseConfig(stringify(doc), OPTS)
    return { at: `providers[${i}]`, problems: [] as { path: string; message: string }[], config }
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    return { at: `providers[${i}]`, problems: e.problems, config: null }
  }
}

describe('github provider config', () => {
  it('the example loads, with GitHub.com as the default API', () => {
    const r = problems(() => {})
    expect(r.problems).toEqual([])
    const gh = r.config!.providers.find((p) => p.type === 'github')!
    expect(gh.options).toMatchObject({
      appId: '123456',
      privateKeyRef: 'vault:github/app-key',
      apiUrl: 'https://api.github.com',
      environments: { prod: { installationId: 4242, repositories: ['app', 'infra'] } },
      classes: { destructive: { permissions: { contents: 'write', administration: 'write' } } },
    })
  })

  it.each([
    ['unknown key', (g: any) => (g.appid = 1), 'appid', 'unknown key for a github provider'],
    ['missing app_id', (g: any) => delete g.app_id, 'app_id', 'required'],
    ['app_id not a number', (g: any) => (g.app_id = 'my-app'), 'app_id', "the App's numeric id"],
    [
      'a literal private key',
      (g: any) => (g.private_key = '-----BEGIN RSA'),
      'private_key',
      'secret reference',
    ],
    ['missing private key', (g: any) => delete g.private_key, 'private_key', 'required'],
    ['bad api_url', (g: any) => (g.api_url = 'api.github.com'), 'api_url', 'http:// or https:// URL'],
    [
      'empty repository list',
      (g: any) => (g.environments.staging.repositories = []),
      'environments.staging.repositories',
      'non-empty list',
    ],
    [
      'missing repositories',
      (g: any) => delete g.environments.prod.repositories,
      'environments.prod.repositories',
      'required',
    ],
    [
      'a repository with its owner',
      (g: any) => (g.environments.prod.repositories = ['app', 'acme/infra']),
      'environments.prod.repositories[1]',
      "without its owner ('infra')",
    ],
    [
      'a duplicate repository',
      (g: any) => (g.environments.prod.repositories = ['app', 'app']),
      'environments.prod.repositories[1]',
      "duplicate repository 'app'",
    ],
    [
      'installation_id not a number',
      (g: any) => (g.environments.staging.installation_id = 'x'),
      'environments.staging.installation_id',
      'positive whole number',
    ],
    [
      'unknown environment',
      (g: any) => (g.environments.qa = { installation_id: 1, repositories: ['a'] }),
      'environments.qa',
      "unknown environment 'qa'",
    ],
    [
      'unknown permission name',
      (g: any) => (g.operation_classes.read.permissions.contnets = 'read'),
      'operation_classes.read.permissions.contnets',
      "'contnets' is not a GitHub App permission",
    ],
    [
      'unknown level',
      (g: any) => (g.operation_classes.read.permissions.contents = 'admin'),
      'operation_classes.read.permissions.contents',
      'expected read or write',
    ],
    [
      'a level the permission does not have',
      (g: any) => (g.operation_classes.write.permissions.workflows = 'read'),
      'operation_classes.write.permissions.workflows',
      'expected write',
    ],
    [
      'administration in a class not marked destructive',
      (g: any) => (g.operation_classes.write.permissions.administration = 'read'),
      'operation_classes.write.permissions.administration',
      'only a class marked destructive: true',
    ],
    [
      'organization_administration in a class not marked destructive',
      (g: any) => (g.operation_classes.read.permissions.organization_administration = 'read'),
      'operation_classes.read.permissions.organization_administration',
      'only a class marked destructive: true',
    ],
    [
      'an organisation-wide write in a class not marked destructive',
      (g: any) => (g.operation_classes.write.permissions.organization_secrets = 'write'),
      'operation_classes.write.permissions.organization_secrets',
      "organization_secrets: write acts on the whole organisation, past the environment's repositories",
    ],
    [
      "organisations' custom properties at write in a class not marked destructive",
      (g: any) => (g.operation_classes.write.permissions.custom_properties_for_organizations = 'write'),
      'operation_classes.write.permissions.custom_properties_for_organizations',
      "custom_properties_for_organizations: write acts on the whole organisation, past the environment's repositories",
    ],
    [
      "the enterprise's organisation properties at write in a class not marked destructive",
      (g: any) =>
        (g.operation_classes.write.permissions.enterprise_custom_properties_for_organizations = 'write'),
      'operation_classes.write.permissions.enterprise_custom_properties_for_organizations',
      "acts on the whole organisation, past the environment's repositories",
    ],
    [
      'webhooks at write in a class not marked destructive',
      (g: any) => (g.operation_classes.write.permissions.repository_hooks = 'write'),
      'operation_classes.write.permissions.repository_hooks',
      'repository_hooks: write leaves what outlives the token',
    ],
    [
      'workflows in a class not marked destructive',
      (g: any) => (g.operation_classes.write.permissions.workflows = 'write'),
      'operation_classes.write.permissions.workflows',
      'only a class marked destructive: true',
    ],
    [
      'an admin level in a class not marked destructive',
      (g: any) => (g.operation_classes.write.permissions.organization_projects = 'admin'),
      'operation_classes.write.permissions.organization_projects',
      'organization_projects: admin administers',
    ],
    [
      'no permissions',
      (g: any) => (g.operation_classes.read.permissions = {}),
      'operation_classes.read.permissions',
      "none would mean all of the App's",
    ],
    [
      'unknown class',
      (g: any) => (g.operation_classes.deploy = { permissions: { contents: 'read' } }),
      'operation_classes.deploy',
      "unknown operation class 'deploy'",
    ],
  ])('%s', (_name, edit, path, message) => {
    const r = problems(edit)
    const found = r.problems.find((p) => p.path === `${r.at}.${path}`)
    expect(found, JSON.stringify(r.problems)).toBeDefined()
    expect(found!.message).toContain(message)
  })

  it('a misspelt permission names the permission it is closest to', () => {
    const r = problems((g) => (g.operation_classes.read.permissions.contnets = 'read'))
    expect(r.problems).toEqual([
      {
        path: `${r.at}.operation_classes.read.permissions.contnets`,
        message: "'contnets' is not a GitHub App permission (did you mean 'contents'?)",
      },
    ])
  })

  it('admin levels are accepted in a destructive class; a trailing slash leaves api_url', () => {
    const r = problems((g) => {
      g.operation_classes.destructive.permissions.organization_projects = 'admin'
      g.operation_classes.destructive.permissions.organization_administration = 'write'
      g.api_url = 'https://ghe.example.com/api/v3/'
    })
    expect(r.problems).toEqual([])
    const gh = r.config!.providers.find((p) => p.type === 'github')!
    expect((gh.options as { apiUrl: string }).apiUrl).toBe('https://ghe.example.com/api/v3')
  })
})
