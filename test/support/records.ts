// Complete store records for tests that talk to a store directly.
import { randomBytes } from 'node:crypto'
import type { Lock } from '../../src/locks/model.js'
import type { SessionRecord } from '../../src/domain/index.js'

const HOUR = 3_600_000

export const newId = (p: string) => `${p}_${randomBytes(8).toString('hex')}`

/** A complete record; `v` stays the first key (the Lua scripts read it from the JSON prefix). */
export function makeRec(now: number, over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    v: 0,
    id: newId('ses'),
    status: 'pending_approval',
    agent: 'build-bot',
    owners: ['alice'],
    on_behalf_of: null,
    task: { id: 'JIRA-1', description: 'rotate staging cache' },
    environment: 'staging',
    operation_class: 'read',
    provider: 'internal-api',
    justification: 'contract test',
    ttl_seconds: 900,
    created_at: now,
    expires_at: now + HOUR,
    approvals_required: 1,
    approvals: [{ by: 'bob', via: 'api', at: now, comment: 'ok' }],
    eligible_approvers: ['bob', 'carol'],
    rule: 'reading prod needs one engineer',
    denied_by: null,
    revoked_by: null,
    revoked_at: null,
    jti: null,
    handle: { key_id: 'k-1' },
    ...over,
  }
}

export function makeLock(now: number, over: Partial<Lock> = {}): Lock {
  return {
    id: newId('lck'),
    agent: null,
    environment: null,
    provider: null,
    task_id: null,
    reason: 'incident',
    expires_at: null,
    created_by: 'ops',
    created_at: now,
    ...over,
  }
}
