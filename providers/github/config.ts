// The github provider's config: what its section resolves to, and the checks its schema
// (schema.ts) cannot make: administering permissions only for classes marked destructive,
// repositories named without their owner, no duplicates. Paths are relative to the provider entry.
import type { Static } from '@sinclair/typebox'
import { parseDuration } from '../../src/validation/duration.js'
import type { CheckContext } from '../validate.js'
import { destructiveOnly } from './permissions.js'
import type { GithubSchema } from './schema.js'

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
/** GitHub accepts at most 500 repositories in one token request. */
const MAX_REPOSITORIES = 500
const ADMIN_ONLY = 'only a class marked destructive: true (two approvals) may hold it'

export function checkGithubConfig(o: Static<typeof GithubSchema>, ctx: CheckContext): GithubProviderConfig {
  const { report } = ctx
  let rateLimitWaitMs = 10_000
  if (o.rate_limit_wait !== undefined) {
    try {
      rateLimitWaitMs = parseDuration(o.rate_limit_wait)
      if (rateLimitWaitMs > 60_000) report('rate_limit_wait', 'at most 60s: callers wait for the answer')
    } catch (e) {
      report('rate_limit_wait', (e as Error).message)
    }
  }

  const environments: Record<string, GithubEnvironmentConfig> = {}
  for (const [name, e] of Object.entries(o.environments)) {
    if (e.repositories.length > MAX_REPOSITORIES)
      report(
        `environments.${name}.repositories`,
        `GitHub accepts at most ${MAX_REPOSITORIES} repositories per token`,
      )
    e.repositories.forEach((r, i) => {
      const p = `environments.${name}.repositories[${i}]`
      if (r.includes('/'))
        report(
          p,
          `write the name without its owner ('${r.split('/').pop()}'): the installation's account owns it`,
        )
      else if (e.repositories.indexOf(r) !== i) report(p, `duplicate repository '${r}'`)
    })
    environments[name] = { installationId: e.installation_id, repositories: e.repositories }
  }

  const classes: Record<string, { permissions: Record<string, string> }> = {}
  for (const [name, c] of Object.entries(o.operation_classes)) {
    const permissions = c.permissions as Record<string, string>
    if (!ctx.destructive(name))
      for (const [perm, level] of Object.entries(permissions)) {
        const why = destructiveOnly(perm, level)
        if (why)
          report(`operation_classes.${name}.permissions.${perm}`, `${perm}: ${level} ${why}: ${ADMIN_ONLY}`)
      }
    classes[name] = { permissions }
  }

  return {
    appId: String(o.app_id),
    privateKeyRef: o.private_key,
    apiUrl: o.api_url?.replace(/\/+$/, '') ?? DEFAULT_API_URL,
    rateLimitWaitMs,
    environments,
    classes,
  }
}
