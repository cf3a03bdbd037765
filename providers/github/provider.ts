// The github provider: one installation token per issue attempt of a session, limited to the
// environment's repositories and the operation class's permissions, revoked at GitHub when the
// session ends. The token is kept only sealed (ProviderContext.sealer), as the session's revocation
// handle and, until it is revoked or expires, in this provider's state (marked with its attempt)
// so that a retry or a crash mid-issue still finds it, and revoking one attempt spares another's.
import { err } from '../../src/errors.js'
import { attemptTag } from '../attempts.js'
import { rotationCovers, type Provider, type ProviderContext, type Sealer } from '../types.js'
import { AppKeyError, createGithubApi, GithubError, type InstallationToken } from './api.js'
import type { GithubEnvironmentConfig, GithubProviderConfig } from './config.js'

/** GitHub's installation tokens live one hour; sessions are clamped to it. */
export const TOKEN_MAX_SECONDS = 3600
const HEALTH_CACHE_MS = 30_000
const LIVE_BATCH = 500
/**
 * Sorted sets in the provider state: session ids by token expiry, and each session's sealed tokens
 * as `<attempt tag> <sealed>` (tokens recorded before attempts had tags: `<sealed>` alone).
 */
const SESSIONS = 'sessions'
const issuedSet = (sessionId: string) => `issued:${sessionId}`
const memberOf = (attempt: string, sealed: string) => `${attemptTag(attempt)} ${sealed}`
const parseMember = (m: string): { tag: string | null; sealed: string } => {
  const i = m.indexOf(' ')
  return i < 0 ? { tag: null, sealed: m } : { tag: m.slice(0, i), sealed: m.slice(i + 1) }
}
const iso = (ms: number) => new Date(ms).toISOString()

/** Where a GitHub API serves git: api.github.com -> github.com, https://ghe/api/v3 -> https://ghe. */
export function serverUrlOf(apiUrl: string): string {
  const u = new URL(apiUrl)
  if (u.hostname === 'api.github.com') return 'https://github.com'
  return `${u.protocol}//${u.host}`
}

/** What GitHub granted beyond the request (it adds metadata: read to every token), or null. */
function beyondRequest(
  t: InstallationToken,
  repositories: string[],
  wanted: string[],
  permissions: Record<string, string>,
): string | null {
  if (t.repository_selection === 'all') return 'every repository of the installation'
  const repos = repositories.filter((r) => !wanted.includes(r))
  if (repos.length > 0) return `repositories ${repos.join(', ')}`
  const perms = Object.entries(t.permissions ?? {}).filter(
    ([k, v]) => permissions[k] !== v && !(k === 'metadata' && v === 'read'),
  )
  if (perms.length > 0) return `permissions ${perms.map(([k, v]) => `${k}: ${v}`).join(', ')}`
  return null
}

export function createGithubProvider(config: GithubProviderConfig, ctx: ProviderContext): Provider {
  const now = () => ctx.clock.now()
  const api = createGithubApi(config, {
    secrets: ctx.secrets,
    now,
    onRetry: (what, waitMs) => ctx.log.warn({ call: what, wait_ms: waitMs }, 'GitHub rate limit; retrying'),
  })
  const serverUrl = serverUrlOf(config.apiUrl)
  let lastError: { message: string; isKey: boolean } | null = null
  let health: { at: number; error: string | null } | null = null
  const context = (sessionId: string) => `github:${ctx.name}:${sessionId}`

  const noVault = `provider ${ctx.name} keeps each token sealed to revoke it and needs the vault: set AIRLOCK_MASTER_KEY (or vault.master_key)`
  const sealer = (): Sealer => {
    if (!ctx.sealer) throw err.unavailable(noVault)
    return ctx.sealer
  }

  /** One sentence naming the installation (never the key) for the caller, the log and /v1/providers. */
  const describe = (e: unknown, installationId: number | null): string => {
    if (e instanceof AppKeyError) return e.message
    const inst = installationId === null ? 'GitHub' : `installation ${installationId}`
    if (!(e instanceof GithubError)) return `${inst}: ${(e as Error).message}`
    if (e.rateLimited) return `${inst}: ${e.message}`
    switch (e.status) {
      case 401:
        return `GitHub refused the JWT of App ${config.appId} for ${inst} (${e.message}): check app_id and that private_key is this App's key`
      case 404:
        return `${inst} of GitHub App ${config.appId} was not found (${e.message}): check installation_id and that the App is installed`
      case 403:
        return `GitHub App ${config.appId} may not create tokens for ${inst} (${e.message})`
      case 422:
        return `${inst} cannot grant these repositories or permissions (${e.message}): the App's permissions and the installation's repositories must include them`
      default:
        return `${inst}: ${e.message}`
    }
  }
  const failed = (message: string | null, isKey = false) => {
    lastError = message === null ? null : { message, isKey }
  }

  const environment = (name: string): GithubEnvironmentConfig => {
    const env = config.environments[name]
    if (!env) throw err.unavailable(`environment '${name}' is not configured for provider ${ctx.name}`)
    return env
  }

  /**
   * Revokes the tokens recorded for one attempt of a session (with `attempt` null: for every
   * attempt), those recorded before attempts had tags, and `extra` (the handle's); done when GitHub
   * no longer knows them.
   */
  async function revokeSession(
    sessionId: string,
    attempt: string | null,
    extra: string | null,
  ): Promise<number> {
    const recorded = await ctx.state.zrange(issuedSet(sessionId))
    const tag = attempt === null ? null : attemptTag(attempt)
    const tokens = new Map<string, { expiry: number; members: string[] }>()
    let others = 0
    for (const r of recorded) {
      const m = parseMember(r.member)
      if (tag !== null && m.tag !== null && m.tag !== tag) {
        others++ // another attempt's: left alone
        continue
      }
      const t = tokens.get(m.sealed) ?? { expiry: r.score, members: [] }
      t.members.push(r.member)
      tokens.set(m.sealed, t)
    }
    if (extra !== null && !tokens.has(extra)) tokens.set(extra, { expiry: Infinity, members: [] })
    if (tokens.size === 0) return 0 // the usual first issue: one round trip
    let revoked = 0
    for (const [sealed, { expiry, members }] of tokens) {
      // Expired at GitHub by itself: nothing to call.
      if (expiry > now()) {
        const token = await sealer().open(context(sessionId), sealed)
        if ((await api.revokeToken(token)) === 'revoked') revoked++
      }
      if (members.length > 0) await ctx.state.zrem(issuedSet(sessionId), members)
    }
    if (others === 0) await ctx.state.zrem(SESSIONS, [sessionId])
    return revoked
  }

  return {
    name: ctx.name,
    type: 'github',
    audience: ctx.name,
    external: true,
    maxTtlSeconds: TOKEN_MAX_SECONDS,
    supportsEnvironment: (env) => Object.hasOwn(config.environments, env),

    async setup() {
      sealer()
    },

    async issue(input) {
      const env = environment(input.environment)
      const cls = config.classes[input.operationClass]
      if (!cls)
        throw err.unavailable(`operation class '${input.operationClass}' has no permissions for ${ctx.name}`)
      const s = sealer()
      // Idempotent on the attempt: a token an earlier try of it minted is revoked before another is.
      await revokeSession(input.sessionId, input.attempt, null).catch((e: unknown) => {
        throw err.unavailable(
          `an earlier token of this session cannot be revoked: ${describe(e, env.installationId)}`,
        )
      })
      let t
      try {
        t = await api.createToken(env.installationId, {
          repositories: env.repositories,
          permissions: cls.permissions,
        })
      } catch (e) {
        const message = describe(e, env.installationId)
        // A refused JWT is the key's fault too: a rotation clears it.
        const isKey = e instanceof AppKeyError || (e instanceof GithubError && e.status === 401)
        if (!(e instanceof GithubError && e.rateLimited)) failed(message, isKey)
        throw err.unavailable(message, e)
      }
      const githubExpiry = Date.parse(t.expires_at)
      const repositories = t.repositories?.map((r) => r.name) ?? env.repositories
      let sealed: string
      try {
        // Recorded before it is handed out: a retry or the reaper finds it even if we crash now.
        sealed = await s.seal(context(input.sessionId), t.token)
        await ctx.state.zadd(issuedSet(input.sessionId), [
          { member: memberOf(input.attempt, sealed), score: githubExpiry },
        ])
        await ctx.state.zadd(SESSIONS, [{ member: input.sessionId, score: githubExpiry }])
        const more = beyondRequest(t, repositories, env.repositories, cls.permissions)
        if (more !== null) throw err.unavailable(`GitHub granted more than was asked: ${more}`)
      } catch (e) {
        await api.revokeToken(t.token).catch(() => {})
        throw err.unavailable(
          `the token for installation ${env.installationId} was revoked unused: ${(e as Error).message}`,
        )
      }
      failed(null)
      return {
        credentials: {
          token: t.token,
          // Never later than the session's end, so clients come back instead of using a revoked token.
          expires_at: iso(Math.min(input.expiresAt, githubExpiry)),
          repositories,
          permissions: t.permissions ?? cls.permissions,
          api_url: config.apiUrl,
          server_url: serverUrl,
        },
        handle: {
          token_sealed: sealed,
          installation_id: String(env.installationId),
          expires_at: iso(githubExpiry),
        },
      }
    },

    async revoke(input) {
      const h = input.handle
      const sealed = h?.['token_sealed'] ?? null
      try {
        // The handle's expiry, when known, spares a call for a token GitHub already let go.
        const expired = h?.['expires_at'] !== undefined && Date.parse(h['expires_at']) <= now()
        await revokeSession(input.sessionId, input.attempt ?? null, expired ? null : sealed)
      } catch (e) {
        const installation = h?.['installation_id'] ? Number(h['installation_id']) : null
        const message = `revoking the token of ${input.sessionId} failed: ${describe(e, installation)}`
        failed(message, e instanceof AppKeyError)
        throw err.unavailable(message, e)
      }
    },

    async reap(isLive) {
      // Sessions whose tokens all expired at GitHub: only the records go.
      for (const { member } of await ctx.state.zrange(SESSIONS, -Infinity, now())) {
        await ctx.state.zremBelow(issuedSet(member), Infinity)
        await ctx.state.zrem(SESSIONS, [member])
      }
      // Tokens of sessions the broker no longer holds live (a crash between GitHub's answer and
      // the session's activation): revoked now rather than left for their hour.
      const ids = (await ctx.state.zrange(SESSIONS)).map((m) => m.member)
      let removed = 0
      for (let i = 0; i < ids.length; i += LIVE_BATCH) {
        const batch = ids.slice(i, i + LIVE_BATCH)
        const live = await isLive(batch)
        for (const id of batch) {
          if (live.has(id)) continue
          try {
            removed += await revokeSession(id, null, null)
          } catch (e) {
            ctx.log.warn({ session: id, err: describe(e, null) }, 'revoking a leftover GitHub token failed')
          }
        }
      }
      return removed
    },

    async health() {
      const t = now()
      if (!health || health.at + HEALTH_CACHE_MS <= t) {
        const problems: string[] = []
        if (!ctx.sealer) problems.push(noVault)
        const installations = [...new Set(Object.values(config.environments).map((e) => e.installationId))]
        for (const id of installations) {
          try {
            await api.installation(id)
          } catch (e) {
            problems.push(describe(e, id))
          }
        }
        health = { at: t, error: problems.length > 0 ? problems.join('; ') : null }
      }
      const error = health.error ?? lastError?.message ?? null
      return { ok: error === null, error }
    },

    async secretRotated(changed) {
      if (rotationCovers(changed, config.privateKeyRef)) {
        api.reset()
        health = null
        if (lastError?.isKey) failed(null) // the next use reads the new key and says again if it fails
      }
    },

    async close() {},
  }
}
