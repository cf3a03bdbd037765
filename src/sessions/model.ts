// The session record as stored, and its public view (API.md, "Session object").
import { iso } from '../clock.js'

export type PublicStatus = 'pending_approval' | 'approved' | 'active' | 'denied' | 'expired' | 'revoked'
/** `issuing` is internal: the provider is minting; it shows as the status it came from. */
export type Status = PublicStatus | 'issuing'

export const FINAL: ReadonlySet<Status> = new Set(['denied', 'expired', 'revoked'])
export const isFinal = (s: Status): boolean => FINAL.has(s)

export interface Approval {
  by: string
  via: 'slack' | 'api' | 'console'
  at: number
  comment: string | null
}

/** The one gateway request an approval covers (API.md, "Action-bound approval"). */
export interface SessionAction {
  method: string
  path: string
  body?: unknown
}

export interface SessionRecord {
  /** Version for compare-and-set; serialised first so Lua can read it without decoding. */
  v: number
  id: string
  status: Status
  agent: string
  owners: string[]
  on_behalf_of: string | null
  task: { id: string; description: string | null }
  environment: string
  operation_class: string
  provider: string
  justification: string | null
  ttl_seconds: number
  created_at: number
  /** Current deadline (ms): approval deadline, claim deadline, issuing deadline or credential expiry. */
  expires_at: number
  approvals_required: number
  approvals: Approval[]
  eligible_approvers: string[]
  rule: string
  denied_by: string | null
  revoked_by: string | null
  revoked_at: number | null
  /** jti of the one token minted for this session. */
  jti: string | null
  /** The provider's non-secret revocation handle. */
  handle: Record<string, string> | null
  /** The approved gateway action (absent in records written before actions existed). */
  action?: SessionAction | null
  /** Its canonical digest (src/gateway/canonical.ts), compared with each request. */
  action_digest?: string | null
}

export interface PublicSession {
  id: string
  status: PublicStatus
  agent: string
  on_behalf_of: string | null
  task: { id: string; description: string | null }
  environment: string
  operation_class: string
  provider: string
  justification: string | null
  ttl_seconds: number
  created_at: string
  expires_at: string
  approvals_required: number
  approvals: { by: string; via: 'slack' | 'api' | 'console'; at: string; comment: string | null }[]
  denied_by: string | null
  revoked_by: string | null
  revoked_at: string | null
  action: SessionAction | null
}

/** A live session past its deadline is expired even before the sweeper records it. */
export function effectiveStatus(rec: SessionRecord, now: number): PublicStatus {
  // Minting is a moment between granted and active; outside the broker it reads as approved.
  const s = rec.status === 'issuing' ? 'approved' : rec.status
  if (!isFinal(rec.status) && rec.expires_at <= now) return 'expired'
  return s as PublicStatus
}

export function toPublic(rec: SessionRecord, now: number): PublicSession {
  return {
    id: rec.id,
    status: effectiveStatus(rec, now),
    agent: rec.agent,
    on_behalf_of: rec.on_behalf_of,
    task: rec.task,
    environment: rec.environment,
    operation_class: rec.operation_class,
    provider: rec.provider,
    justification: rec.justification,
    ttl_seconds: rec.ttl_seconds,
    created_at: iso(rec.created_at),
    expires_at: iso(rec.expires_at),
    approvals_required: rec.approvals_required,
    approvals: rec.approvals.map((a) => ({ by: a.by, via: a.via, at: iso(a.at), comment: a.comment })),
    denied_by: rec.denied_by,
    revoked_by: rec.revoked_by,
    revoked_at: rec.revoked_at === null ? null : iso(rec.revoked_at),
    action: rec.action ?? null,
  }
}

/** The dimensions a lock can match. */
export interface LockScope {
  agent: string
  environment: string
  provider: string
  task_id: string
}

export const scopeOf = (
  rec: Pick<SessionRecord, 'agent' | 'environment' | 'provider' | 'task'>,
): LockScope => ({
  agent: rec.agent,
  environment: rec.environment,
  provider: rec.provider,
  task_id: rec.task.id,
})

/** What every audit event about a session says of it. */
export const summary = (r: SessionRecord) => ({
  agent: r.agent,
  environment: r.environment,
  operation_class: r.operation_class,
  provider: r.provider,
  task_id: r.task.id,
  status: r.status,
})

export const reasonForExpiry = (from: Status): string =>
  from === 'pending_approval'
    ? 'approval timed out'
    : from === 'approved'
      ? 'claim window passed'
      : from === 'issuing'
        ? 'issuing did not finish'
        : 'ttl elapsed'
