// Role names. Roles are cluster-wide, so every name carries a tag hashed from the deployment and
// the provider: the broker recognises its own roles by it and never touches anyone else's,
// including another Airlock's on the same server. Names stay under PostgreSQL's 63-byte limit.
// A session's login role is named after its issue attempt (`<session id>_<attempt tag>`), so that
// dropping one attempt's role never reaches another's; roles issued before attempts had names of
// their own are named after the session alone, and are still recognised.
import { SESSION_ID_RE } from '../../src/ids.js'
import { attemptTag, h8 } from '../attempts.js'

/** PostgreSQL's NAMEDATALEN - 1. */
const MAX_NAME_BYTES = 63
/** A session id, then the attempt's tag (absent on roles issued before attempts had names). */
const SESSION_PART = `(${SESSION_ID_RE.source.slice(1, -1)})(?:_[0-9a-f]{8})?`

export interface RoleNames {
  tag: string
  /** LIKE pattern matching this deployment's session roles (`_` escaped). */
  sessionPattern: string
  /** The login role of one issue attempt; without `attempt`, the session-named role of earlier versions. */
  session(sessionId: string, attempt?: string | null): string
  /** The session id a role of ours belongs to, or null when the name is not one of ours. */
  sessionOf(role: string): string | null
  /** True for a role of this session (any attempt) under any tag (a replica on another host issued it). */
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
  const ours = new RegExp(`^${base}${SESSION_PART}$`)
  return {
    tag,
    sessionPattern: `${likeEscape(`${base}ses_`)}%`,
    session(sessionId, attempt) {
      // The id's shape keeps the name a plain identifier. Session ids are Airlock's own, so
      // another string here is a programming error (a plain Error).
      if (!SESSION_ID_RE.test(sessionId)) throw new Error('not a session id')
      const name = attempt ? `${base}${sessionId}_${attemptTag(attempt)}` : base + sessionId
      if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw new Error('session id too long for a role name')
      return name
    },
    sessionOf(role) {
      return ours.exec(role)?.[1] ?? null
    },
    isSessionRoleFor(role, sessionId) {
      return (
        SESSION_ID_RE.test(sessionId) &&
        new RegExp(`^airlock_[0-9a-f]{8}_${sessionId}(?:_[0-9a-f]{8})?$`).test(role)
      )
    },
    group: (env, db, cls) => groupBase(env, db) + h8(cls),
    groupPrefix: groupBase,
    owner: (env, db) => `${base}own_${h8(env, db)}`,
  }
}
