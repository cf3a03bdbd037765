// What the sessions layer's audit events say of a session (the models are in src/domain).
import type { SessionRecord, Status } from '../domain/index.js'

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
