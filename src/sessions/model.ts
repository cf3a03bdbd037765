// The session as the sessions layer speaks of it: the models (src/domain) and what audit events say.
import type { SessionRecord, Status } from '../domain/index.js'

export {
  effectiveStatus,
  FINAL,
  isFinal,
  scopeOf,
  toPublic,
  type Approval,
  type LockScope,
  type PublicSession,
  type PublicStatus,
  type SessionAction,
  type SessionRecord,
  type Status,
} from '../domain/index.js'

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
