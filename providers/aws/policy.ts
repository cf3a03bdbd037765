// The IAM documents the aws provider writes, and the values it sends STS, made to fit STS's rules.
// - Session policy: passed to AssumeRole; allows exactly one operation class's actions. A session
//   policy can only narrow what the role allows, never widen it.
// - Deny policy: an inline policy on the environment's role that denies everything to revoked
//   sessions (`aws:userid` = ROLE_ID:SESSION_NAME) and, after an overflow, to every session issued
//   before a cutoff (`aws:TokenIssueTime`).
import { attemptTag } from '../attempts.js'

export interface Statement {
  Sid: string
  Effect: 'Allow' | 'Deny'
  Action: string | string[]
  Resource: string | string[]
  Condition?: Record<string, Record<string, string | string[]>>
}

export interface PolicyDocument {
  Version: '2012-10-17'
  Statement: Statement[]
}

/** STS: the plain text of a session policy may hold 2,048 characters. */
export const SESSION_POLICY_MAX_CHARS = 2048

/** Characters as IAM counts them against its quotas (whitespace is not counted). */
export const policyChars = (doc: PolicyDocument): number => JSON.stringify(doc).replace(/\s/g, '').length

const sid = (s: string): string => s.replace(/[^A-Za-z0-9]/g, '')

export function sessionPolicy(
  operationClass: string,
  actions: string[],
  env: { resources: string[]; condition: Statement['Condition'] | null },
): PolicyDocument {
  const statement: Statement = {
    Sid: `Airlock${sid(operationClass)}`,
    Effect: 'Allow',
    Action: actions,
    Resource: env.resources.length === 1 ? env.resources[0]! : env.resources,
  }
  if (env.condition) statement.Condition = env.condition
  return { Version: '2012-10-17', Statement: [statement] }
}

export const DENY_SESSIONS_SID = 'AirlockRevokedSessions'
export const DENY_BEFORE_SID = 'AirlockRevokedBefore'

/** The deny policy for these `aws:userid`s (ROLE_ID:SESSION_NAME) and cutoff; null when nothing is denied. */
export function denyPolicy(userIds: string[], cutoff: string | null): PolicyDocument | null {
  const statements: Statement[] = []
  if (userIds.length > 0) {
    statements.push({
      Sid: DENY_SESSIONS_SID,
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { StringEquals: { 'aws:userid': [...userIds].sort() } },
    })
  }
  if (cutoff !== null) {
    statements.push({
      Sid: DENY_BEFORE_SID,
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { DateLessThan: { 'aws:TokenIssueTime': cutoff } },
    })
  }
  return statements.length > 0 ? { Version: '2012-10-17', Statement: statements } : null
}

/** What a deny policy read back from IAM denies (to confirm a write landed). */
export function deniedBy(doc: unknown): { userIds: Set<string>; cutoff: string | null } {
  const out = { userIds: new Set<string>(), cutoff: null as string | null }
  const statements = (doc as { Statement?: unknown })?.Statement
  for (const s of Array.isArray(statements) ? statements : [statements]) {
    const st = s as Partial<Statement> | undefined
    if (!st || st.Effect !== 'Deny') continue
    const ids = st.Condition?.['StringEquals']?.['aws:userid']
    for (const id of Array.isArray(ids) ? ids : ids ? [ids] : []) out.userIds.add(id)
    const before = st.Condition?.['DateLessThan']?.['aws:TokenIssueTime']
    if (typeof before === 'string') out.cutoff = before
  }
  return out
}

// STS input rules (API reference: Tag, AssumeRole).
const TAG_VALUE_DISALLOWED = /[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu
const IDENTITY_DISALLOWED = /[^\w+=,.@-]/g

/** A session tag value STS accepts: disallowed characters become `_`, at most 256 characters. */
export const tagValue = (s: string): string =>
  Array.from(s.replace(TAG_VALUE_DISALLOWED, '_')).slice(0, 256).join('')

/** A SourceIdentity / RoleSessionName STS accepts: `[\w+=,.@-]`, 2 to 64 characters. */
export const stsName = (s: string): string => s.replace(IDENTITY_DISALLOWED, '_').slice(0, 64).padEnd(2, '_')

/**
 * The RoleSessionName of one issue attempt: `<session id>.<attempt tag>` (at most 53 characters,
 * all of them `[\w.]`). Credentials issued before attempts had their own names used the session id.
 */
export const attemptSessionName = (sessionId: string, attempt: string): string =>
  `${sessionId}.${attemptTag(attempt)}`

/** The session a RoleSessionName of ours belongs to (either form). */
export const sessionOfName = (name: string): string => name.split('.')[0] as string

export const TAG_KEYS = {
  environment: 'airlock:environment',
  operationClass: 'airlock:operation-class',
  sessionId: 'airlock:session-id',
  taskId: 'airlock:task-id',
  agent: 'airlock:agent',
} as const
