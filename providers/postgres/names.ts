// Role names. Roles are cluster-wide, so every name carries a tag hashed from the deployment and
// the provider: the broker recognises its own roles by it and never touches anyone else's,
// including another Airlock's on the same server. Names stay under PostgreSQL's 63-byte limit.
import { createHash } from 'node:crypto'
import { SESSION_ID_RE } from '../../src/ids.js'

const h8 = (...parts: string[]): string =>
  createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 8)

export interface RoleNames {
  tag: string
  /** LIKE pattern matching this deployment's session roles (`_` escaped). */
  sessionPattern: string
  session(sessionId: string): string
  /** The session id a role of ours belongs to, or null when the name is not one of ours. */
  sessionOf(role: string): string | null
  /** True for this session's role under any tag (a replica on another host issued it). */
  isSessionRoleFor(role: string, sessionId: string): boolean
  group(environment: string, database: string, operationClass: string): string
  /** The common start of one environment's group names. */
  groupPrefix(environment: string, database: string): string
  owner(environment: string, database: string): string
}

const likeEscape = (s: string): string => s.replace(/[\\%_]/g, '\\$&')

export function roleNames(deploymentId: string, provider: string): RoleNames {
  const tag = h8(deploymentId, provider)
  const base = `airlock_${tag}_`
  const groupBase = (env: string, db: string) => `${base}grp_${h8(env, db)}_`
  return {
    tag,
    sessionPattern: `${likeEscape(`${base}ses_`)}%`,
    session(sessionId) {
      // The id's shape bounds the name to 61 bytes and keeps it a plain identifier. Session ids
      // are Airlock's own, so another string here is a programming error (a plain Error).
      if (!SESSION_ID_RE.test(sessionId)) throw new Error('not a session id')
      return base + sessionId
    },
    sessionOf(role) {
      if (!role.startsWith(base)) return null
      const id = role.slice(base.length)
      return SESSION_ID_RE.test(id) ? id : null
    },
    isSessionRoleFor(role, sessionId) {
      return SESSION_ID_RE.test(sessionId) && new RegExp(`^airlock_[0-9a-f]{8}_${sessionId}$`).test(role)
    },
    group: (env, db, cls) => groupBase(env, db) + h8(cls),
    groupPrefix: groupBase,
    owner: (env, db) => `${base}own_${h8(env, db)}`,
  }
}
