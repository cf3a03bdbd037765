// The postgres provider: one login role per issue attempt of a session, in one environment's
// database, with one operation class's group. See docs/providers.md ("postgres") for the role model.
import { err } from '../../src/errors.js'
import {
  rotationCovers,
  type Issued,
  type Provider,
  type ProviderContext,
  type ProviderHealth,
} from '../types.js'
import type { PostgresConfig } from './config.js'
import { envConnection, type EnvConnection } from './connection.js'
import { applyGrants, checkConfinement, grantsByGroups, groupsOf, ownerOf, type EnvGrants } from './grants.js'
import { roleNames } from './names.js'
import { ownerAclSnapshot, undoOwnerAcls } from './owner-acls.js'
import { createSessionRole, dropSessionRole, listSessionRoles } from './sessions.js'
import { newPassword, scramVerifier } from './sql.js'

interface Env {
  conn: EnvConnection
  grants: EnvGrants
  /** Groups and grants are in place and passed the confinement checks. */
  ready: boolean
  applying: Promise<void> | null
  error: string | null
}

const LIVE_BATCH = 500

export function createPostgresProvider(config: PostgresConfig, ctx: ProviderContext): Provider {
  const names = roleNames(config.deploymentId ?? ctx.instanceId, ctx.name)
  const envs = new Map<string, Env>()
  for (const [environment, cfg] of Object.entries(config.environments)) {
    envs.set(environment, {
      conn: envConnection(environment, cfg, { secrets: ctx.secrets, log: ctx.log }),
      grants: { provider: ctx.name, environment, config: cfg, classes: config.classes, names },
      ready: false,
      applying: null,
      error: null,
    })
  }
  const envOf = (environment: string): Env => {
    const e = envs.get(environment)
    if (!e) throw err.unavailable(`environment '${environment}' is not configured for provider ${ctx.name}`)
    return e
  }
  const groupPrefix = (e: Env) => names.groupPrefix(e.grants.environment, e.grants.config.database)

  /** (Re)applies an environment's groups and grants; concurrent callers share one run. */
  const apply = (e: Env): Promise<void> =>
    (e.applying ??= e.conn
      .withClient((c) => applyGrants(c, e.grants))
      .then(
        () => {
          e.ready = true
          e.error = null
        },
        (err: unknown) => {
          e.ready = false
          e.error = e.conn.safeError(err).message
          throw e.conn.safeError(err)
        },
      )
      .finally(() => (e.applying = null)))
  const prepare = (e: Env): Promise<void> => (e.ready ? Promise.resolve() : apply(e))
  // Only grant_statements can give a group a grant option to pass on.
  const withGrantStatements = Object.values(config.classes).some((c) => c.grantStatements !== null)
  /**
   * Takes back what sessions passed on with their group's grant option: rebuilding the groups
   * revokes what was granted to them, and CASCADE what they granted. Throws if that fails, so the
   * revocation is retried.
   */
  const takeBackGroupGrants = async (e: Env): Promise<boolean> => {
    if (!withGrantStatements) return false
    const left = () => e.conn.withClient((c) => grantsByGroups(c, groupsOf(e.grants)))
    if ((await left()) === 0) return false
    await apply(e)
    // A rebuild already under way when this one was asked for may have run before the grant.
    const n = await left()
    if (n > 0)
      throw err.unavailable(`environment ${e.grants.environment}: ${n} privilege(s) granted by groups remain`)
    return true
  }

  /** Where the privileges a session's role could grant as another role are kept, as at issue. */
  const snapshotSet = (role: string) => `acl:${role}`
  /** Keeps them before the role exists; a retry of the same attempt keeps the first snapshot. */
  const keepGrants = async (e: Env, role: string, group: string): Promise<void> => {
    const set = snapshotSet(role)
    if ((await ctx.state.zrange(set)).length > 0) return
    const snapshot = await e.conn.withClient((c) => ownerAclSnapshot(c, group))
    if (snapshot)
      await ctx.state.zadd(
        set,
        snapshot.map((member) => ({ member, score: 0 })),
        { onlyNew: true },
      )
  }
  /**
   * Revokes what was granted as those roles since the role was issued. Returns whether there were
   * any; throws (and keeps the snapshot) when they cannot be revoked, so the revocation is retried.
   */
  const undoGrants = async (e: Env, role: string, sessionId: string): Promise<boolean> => {
    const set = snapshotSet(role)
    const snapshot = (await ctx.state.zrange(set)).map((m) => m.member)
    if (snapshot.length === 0) return false
    const undone = await e.conn.withClient((c) => undoOwnerAcls(c, snapshot))
    if (undone.length > 0)
      ctx.log.warn(
        { session: sessionId, role, statements: undone },
        'privileges granted during the session were revoked',
      )
    await ctx.state.zremBelow(set, Infinity)
    return undone.length > 0
  }

  return {
    name: ctx.name,
    type: 'postgres',
    audience: ctx.name,
    external: true,
    supportsEnvironment: (environment) => envs.has(environment),

    async setup() {
      await Promise.allSettled([...envs.values()].map(apply))
      // Once every environment has closed its database to PUBLIC, check each again: a path into
      // another environment's database may only show now.
      await Promise.allSettled(
        [...envs.values()]
          .filter((e) => e.ready)
          .map((e) =>
            e.conn
              .withClient((c) => checkConfinement(c, groupsOf(e.grants), e.grants.environment))
              .catch((err: unknown) => {
                e.ready = false
                e.error = e.conn.safeError(err).message
              }),
          ),
      )
      const failed = [...envs.values()].filter((e) => !e.ready)
      if (failed.length > 0) throw err.unavailable(failed.map((e) => e.error).join('; '))
    },

    async issue(input): Promise<Issued> {
      const e = envOf(input.environment)
      const cls = config.classes[input.operationClass]
      if (!cls || cls.privileges === 'none')
        throw err.unavailable(
          `operation class '${input.operationClass}' is not granted by provider ${ctx.name}`,
        )
      await prepare(e)
      const { database } = e.grants.config
      const role = names.session(input.sessionId, input.attempt)
      const password = newPassword()
      const [verifier, target] = await Promise.all([scramVerifier(password), e.conn.target()])
      const until = new Date(input.expiresAt)
      const group = names.group(input.environment, database, input.operationClass)
      await keepGrants(e, role, group)
      await e.conn.withClient((c) =>
        createSessionRole(c, {
          role,
          group,
          verifier,
          validUntil: until,
          connectionLimit: config.connectionLimit,
          comment:
            `Airlock session ${input.sessionId}: agent ${input.agent}, task ${input.taskId}, ` +
            `${input.environment}/${input.operationClass}, until ${until.toISOString()}`,
        }),
      )
      const host = e.grants.config.host ?? target.host
      const port = e.grants.config.port ?? target.port
      return {
        credentials: {
          host,
          port,
          database,
          username: role,
          password,
          url: connectionUrl({ host, port, database, user: role, password, sslmode: target.sslmode }),
        },
        handle: { role },
      }
    },

    async revoke(input) {
      const e = envOf(input.environment)
      const given = input.handle?.['role']
      // The handle names the role (also when another replica, with another tag, issued it). Without
      // one, the attempt's role, and the session-named role an earlier version may have issued.
      const roles =
        given !== undefined && names.isSessionRoleFor(given, input.sessionId)
          ? [given]
          : [
              ...(input.attempt ? [names.session(input.sessionId, input.attempt)] : []),
              names.session(input.sessionId),
            ]
      const reassignTo = config.onRevoke === 'reassign' ? ownerOf(e.grants) : null
      let owned = 0
      let regrant = false
      for (const role of roles) {
        const r = await e.conn.withClient((c) => dropSessionRole(c, role, reassignTo, e.conn.withClientIn))
        owned += r.owned
        // A class widened by a reload meanwhile may look added too: the regrant below restores it.
        if (await undoGrants(e, role, input.sessionId)) regrant = true
        if (r.existed)
          ctx.log.info(
            {
              session: input.sessionId,
              role,
              connections_cut: r.terminated,
              owned: r.owned,
              triggers_disabled: r.disabled,
              dependents_removed: r.detached,
            },
            'session role dropped',
          )
      }
      if (await takeBackGroupGrants(e)) return
      // What the session created now belongs to the owner: give the groups their grants on it.
      if ((owned > 0 && reassignTo !== null) || regrant)
        await apply(e).catch((err: unknown) =>
          ctx.log.warn({ err: (err as Error).message }, 'regranting after a reassign failed'),
        )
    },

    async reap(isLive) {
      const prefixes = [...envs.values()].map(groupPrefix)
      let removed = 0
      for (const e of envs.values()) {
        try {
          const rows = await e.conn.withClient((c) => listSessionRoles(c, names.sessionPattern))
          const prefix = groupPrefix(e)
          // Roles of this environment, and orphans (a removed class or environment) seen from here.
          const mine = rows.filter(
            (r) =>
              r.groups.some((g) => g.startsWith(prefix)) ||
              !r.groups.some((g) => prefixes.some((p) => g.startsWith(p))),
          )
          // A session may hold several roles (an undone attempt's, waiting for its revocation).
          const bySession = new Map<string, string[]>()
          for (const r of mine) {
            const id = names.sessionOf(r.role)
            if (id) bySession.set(id, [...(bySession.get(id) ?? []), r.role])
          }
          const ids = [...bySession.keys()]
          for (let i = 0; i < ids.length; i += LIVE_BATCH) {
            const batch = ids.slice(i, i + LIVE_BATCH)
            const live = await isLive(batch)
            for (const id of batch) {
              if (live.has(id)) continue
              const reassignTo = config.onRevoke === 'reassign' ? ownerOf(e.grants) : null
              for (const role of bySession.get(id) ?? []) {
                const r = await e.conn.withClient((c) =>
                  dropSessionRole(c, role, reassignTo, e.conn.withClientIn),
                )
                if (r.existed) removed++
                if (await undoGrants(e, role, id)) await apply(e)
              }
            }
          }
          if (removed > 0) await takeBackGroupGrants(e)
        } catch (err) {
          ctx.log.warn({ err: e.conn.safeError(err).message }, 'reaping session roles failed')
        }
      }
      return removed
    },

    async health(): Promise<ProviderHealth> {
      const problems: string[] = []
      for (const e of envs.values()) {
        try {
          await e.conn.withClient((c) => c.query('SELECT 1'))
          if (!e.ready) problems.push(e.error ?? `environment ${e.grants.environment}: not set up yet`)
        } catch (err) {
          problems.push(e.conn.safeError(err).message)
        }
      }
      return { ok: problems.length === 0, error: problems.length > 0 ? problems.join('; ') : null }
    },

    async secretRotated(changed) {
      for (const e of envs.values()) {
        if (rotationCovers(changed, e.grants.config.connection)) await e.conn.reset()
      }
    },

    async close() {
      await Promise.all([...envs.values()].map((e) => e.conn.close()))
    },
  }
}

/** The libpq URL agents connect with. */
export function connectionUrl(p: {
  host: string
  port: number
  database: string
  user: string
  password: string
  sslmode: string | null
}): string {
  const socket = p.host.startsWith('/')
  const params = new URLSearchParams()
  if (socket) {
    params.set('host', p.host)
    params.set('port', String(p.port))
  }
  if (p.sslmode !== null) params.set('sslmode', p.sslmode)
  const host = socket ? '' : p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`
  const query = params.size > 0 ? `?${params.toString()}` : ''
  const enc = encodeURIComponent
  return `postgresql://${enc(p.user)}:${enc(p.password)}@${host}/${enc(p.database)}${query}`
}
