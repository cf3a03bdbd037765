// The github provider's section of the config: checked here, every problem with its path
// (`operation_classes.read.permissions.contents: ...`; the loader prefixes `providers[i].`).
import { parseDuration } from '../../src/config/duration.js'
import { isSecretRef, LITERAL_SECRET } from '../../src/config/secrets.js'
import type { ValidateContext, Validated } from '../types.js'
import { isRecord, section, unknownKeys, type Report } from '../validate.js'
import { isAdminLevel, PERMISSIONS } from './permissions.js'

export interface GithubEnvironmentConfig {
  installationId: number
  /** Repository names (without the owner: the installation's account owns them). */
  repositories: string[]
}

export interface GithubProviderConfig {
  appId: string
  /** Secret reference to the App's PEM private key (PKCS#1 or PKCS#8). */
  privateKeyRef: string
  /** REST API base, without a trailing slash. */
  apiUrl: string
  /** How long one issue or revoke may wait for GitHub's rate limit before answering 503. */
  rateLimitWaitMs: number
  environments: Record<string, GithubEnvironmentConfig>
  classes: Record<string, { permissions: Record<string, string> }>
}

export const DEFAULT_API_URL = 'https://api.github.com'
const TOP_KEYS = ['app_id', 'private_key', 'api_url', 'rate_limit_wait', 'environments', 'operation_classes']
const ENV_KEYS = ['installation_id', 'repositories']
const CLASS_KEYS = ['permissions']
/** GitHub accepts at most 500 repositories in one token request. */
const MAX_REPOSITORIES = 500
const REPO_RE = /^[A-Za-z0-9._-]{1,100}$/
const ADMIN_ONLY =
  'administers the repository or organisation: only a class marked destructive: true (two approvals) may hold it'

const positiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0

export function validateGithubConfig(
  raw: Record<string, unknown>,
  ctx: ValidateContext,
): Validated<GithubProviderConfig> {
  const problems: { path: string; message: string }[] = []
  const report: Report = (path, message) => problems.push({ path, message })
  unknownKeys(raw, TOP_KEYS, '', 'a github provider', report)

  const rawAppId = raw['app_id']
  let appId = ''
  if (rawAppId === undefined) report('app_id', "required (the App's numeric id, from its settings page)")
  else if (positiveInt(rawAppId) || (typeof rawAppId === 'string' && /^[1-9]\d{0,18}$/.test(rawAppId)))
    appId = String(rawAppId)
  else report('app_id', "expected the App's numeric id, like 123456")

  const key = raw['private_key']
  if (key === undefined) report('private_key', "required (a secret reference to the App's private key PEM)")
  else if (typeof key !== 'string' || !isSecretRef(key)) report('private_key', LITERAL_SECRET)

  let apiUrl = DEFAULT_API_URL
  const url = raw['api_url']
  if (url !== undefined) {
    if (typeof url !== 'string' || !/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(url))
      report('api_url', 'expected an http:// or https:// URL like https://api.github.com')
    else apiUrl = url.replace(/\/+$/, '')
  }

  let rateLimitWaitMs = 10_000
  const wait = raw['rate_limit_wait']
  if (wait !== undefined) {
    try {
      if (typeof wait !== 'string') throw new Error('expected a duration like 10s')
      rateLimitWaitMs = parseDuration(wait)
      if (rateLimitWaitMs > 60_000) throw new Error('at most 60s: callers wait for the answer')
    } catch (e) {
      report('rate_limit_wait', (e as Error).message)
    }
  }

  const environments: Record<string, GithubEnvironmentConfig> = {}
  const envs = raw['environments']
  if (envs === undefined)
    report('environments', 'required (environment name: {installation_id, repositories})')
  else if (!isRecord(envs) || Object.keys(envs).length === 0)
    report('environments', 'expected a mapping of environment names to {installation_id, repositories}')
  else {
    for (const [name, value] of Object.entries(envs)) {
      const at = `environments.${name}`
      if (ctx.environments.length > 0 && !ctx.environments.includes(name))
        report(at, `unknown environment '${name}'`)
      const env = environment(value, at, report)
      if (env) environments[name] = env
    }
  }

  const classes: Record<string, { permissions: Record<string, string> }> = {}
  const rawClasses = raw['operation_classes']
  if (rawClasses === undefined)
    report('operation_classes', 'required (the permissions of each operation class)')
  else if (!isRecord(rawClasses) || Object.keys(rawClasses).length === 0)
    report('operation_classes', 'expected a mapping of operation class names to {permissions}')
  else {
    for (const [name, value] of Object.entries(rawClasses)) {
      const at = `operation_classes.${name}`
      const known = ctx.operationClasses.includes(name)
      if (ctx.operationClasses.length > 0 && !known) report(at, `unknown operation class '${name}'`)
      // Unknown classes were reported above; judging their permissions too would only repeat it.
      const destructive = !known || ctx.destructiveClasses.includes(name)
      const permissions = classPermissions(value, at, destructive, report)
      if (permissions) classes[name] = { permissions }
    }
  }

  if (problems.length > 0) return { ok: false, problems }
  return {
    ok: true,
    config: {
      appId,
      privateKeyRef: key as string,
      apiUrl,
      rateLimitWaitMs,
      environments,
      classes,
    },
  }
}

function environment(raw: unknown, at: string, report: Report): GithubEnvironmentConfig | null {
  const s = section(raw, at, '{installation_id, repositories}', ENV_KEYS, 'a github environment', report)
  if (!s) return null
  const { value, bad } = s
  const id = value['installation_id']
  if (id === undefined) bad(`${at}.installation_id`, "required (the App installation's numeric id)")
  else if (!positiveInt(id)) bad(`${at}.installation_id`, 'expected a positive whole number, like 4242')
  const repos = value['repositories']
  if (repos === undefined)
    bad(`${at}.repositories`, 'required (the repositories this environment may touch, by name)')
  else if (!Array.isArray(repos) || repos.length === 0)
    // An empty list would make GitHub hand out a token for every repository of the installation.
    bad(
      `${at}.repositories`,
      'expected a non-empty list of repository names (an empty list would mean all of them)',
    )
  else if (repos.length > MAX_REPOSITORIES)
    bad(`${at}.repositories`, `GitHub accepts at most ${MAX_REPOSITORIES} repositories per token`)
  else
    repos.forEach((r, i) => {
      const p = `${at}.repositories[${i}]`
      if (typeof r === 'string' && r.includes('/') && REPO_RE.test(r.split('/').pop() ?? ''))
        bad(
          p,
          `write the name without its owner ('${r.split('/').pop()}'): the installation's account owns it`,
        )
      else if (typeof r !== 'string' || !REPO_RE.test(r))
        bad(p, 'expected a repository name of letters, digits, . _ and -')
      else if (repos.indexOf(r) !== i) bad(p, `duplicate repository '${r}'`)
    })
  if (!s.ok()) return null
  return { installationId: id as number, repositories: repos as string[] }
}

function classPermissions(
  raw: unknown,
  at: string,
  destructive: boolean,
  report: Report,
): Record<string, string> | null {
  const s = section(raw, at, '{permissions: {name: level}}', CLASS_KEYS, 'a github operation class', report)
  if (!s) return null
  const { value, bad } = s
  const perms = value['permissions']
  const p = `${at}.permissions`
  if (!isRecord(perms) || Object.keys(perms).length === 0) {
    // No permissions would make GitHub grant every permission the App has.
    bad(p, "expected a non-empty mapping like {contents: read} (none would mean all of the App's)")
    return null
  }
  for (const [name, level] of Object.entries(perms)) {
    const levels = PERMISSIONS[name]
    if (!levels) bad(`${p}.${name}`, `'${name}' is not a GitHub App permission`)
    else if (typeof level !== 'string' || !levels.includes(level as never))
      bad(`${p}.${name}`, `expected ${levels.join(' or ')}`)
    else if (!destructive && isAdminLevel(name, level)) bad(`${p}.${name}`, `${name}: ${level} ${ADMIN_ONLY}`)
  }
  return s.ok() ? (perms as Record<string, string>) : null
}
