// A fake GitHub with one App installed on the `acme` organisation (installation 4242), and the
// providers-list entry of a github provider for it; the App's key is kept in Airlock's vault.
import { fakeGithub, type FakeGithub } from './fake-github.js'

export const INSTALLATION = 4242
export const OWNER = 'acme'
export const REPOS = { staging: ['app-staging-config'], prod: ['app', 'infra'] }
export const PERMISSIONS = {
  read: { contents: 'read', pull_requests: 'read' },
  write: { contents: 'write', pull_requests: 'write' },
  destructive: { contents: 'write', administration: 'write' },
}

export async function githubWorld(opts: { now?: () => number } = {}): Promise<{
  fake: FakeGithub
  /** The providers-list entry (YAML, indented by two spaces). */
  providerYaml(o?: { name?: string; installation?: number; extra?: string }): string
}> {
  const fake = await fakeGithub(opts)
  fake.addInstallation({
    id: INSTALLATION,
    account: OWNER,
    repositories: [...REPOS.staging, ...REPOS.prod, 'website'],
    permissions: {
      contents: 'write',
      pull_requests: 'write',
      administration: 'write',
      issues: 'write',
      metadata: 'read',
    },
  })
  const classes = Object.entries(PERMISSIONS)
    .map(([c, p]) => `      ${c}: { permissions: ${JSON.stringify(p)} }`)
    .join('\n')
  return {
    fake,
    providerYaml: (o = {}) => `
  - name: ${o.name ?? 'github'}
    type: github
    app_id: ${fake.appId}
    private_key: vault:github/app-key
    api_url: ${fake.url}
${o.extra ?? ''}
    environments:
      staging: { installation_id: ${o.installation ?? INSTALLATION}, repositories: ${JSON.stringify(REPOS.staging)} }
      prod: { installation_id: ${o.installation ?? INSTALLATION}, repositories: ${JSON.stringify(REPOS.prod)} }
    operation_classes:
${classes}
`,
  }
}
