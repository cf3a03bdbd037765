// Expiry in bulk. Every replica takes part: each claims a batch of due sessions atomically (a claim
// hides them from the other replicas' claims), ends the whole batch with its audit events in one
// atomic write, then revokes the provider credentials of the batch a few at a time. A session
// changed meanwhile (a revoke) keeps that change; a claim whose replica died lapses and the session
// is claimed again.
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.js'
import type { Metrics } from '../metrics.js'
import type { Runtime } from '../runtime.js'
import { ReplicaAckError } from '../store/durable.js'
import type { Store } from '../store/types.js'
import { isFinal, type SessionRecord } from '../domain/index.js'
import { reasonForExpiry, summary } from './model.js'
import { step } from './lifecycle.js'
import type { SessionRecords } from './records.js'
import type { Revoker } from './revoker.js'

/** How long a claim hides a session from other replicas (so how late a dead replica's claim returns). */
export const CLAIM_MS = 15_000
/** Provider revocations of one batch running at once. */
const REVOKE_CONCURRENCY = 16
/** A batch is picked from this many of the oldest due sessions, so replicas rarely collide. */
const SPREAD = 4

export interface ExpiryDeps {
  store: Store
  /** The session store: each expiry is written with its audit event (the `expire` step). */
  records: SessionRecords
  revoker: Revoker
  runtime: () => Runtime
  clock: Clock
  metrics: Metrics
  log: FastifyBaseLogger
  /** Told of each session that ended (the Slack notifier); must not throw. */
  onChange?: (rec: SessionRecord) => Promise<void>
}

export interface BatchResult {
  /** Due sessions found (0: nothing is due). */
  due: number
  expired: number
}

export function createExpiry(deps: ExpiryDeps) {
  const { store, records, clock, log } = deps

  /** Runs `f` over `items`, at most `limit` at a time. */
  const bounded = async <T>(items: T[], limit: number, f: (item: T) => Promise<unknown>) => {
    let next = 0
    const worker = async () => {
      while (next < items.length) await f(items[next++] as T)
    }
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  }

  async function expireBatch(limit: number): Promise<BatchResult> {
    const now = clock.now()
    const ids = await store.dueSessionIds(now, limit * SPREAD)
    if (ids.length === 0) return { due: 0, expired: 0 }
    const start = ids.length > limit ? Math.floor(Math.random() * (ids.length - limit + 1)) : 0
    const { recs, dropped, unreadable } = await store.claimDue(
      ids.slice(start, start + limit),
      now,
      now + CLAIM_MS,
    )
    if (dropped > 0)
      log.warn({ dropped }, 'removed the index entries of sessions whose records outlived store.retention')
    if (unreadable)
      log.error({ sessions: unreadable }, 'due sessions whose records cannot be read; expiring them later')

    let unacked: ReplicaAckError | null = null
    // All updates are queued at once, so the audit writer's group commit sends them together.
    const settled = await Promise.allSettled(
      recs.map(async (before) => {
        if (isFinal(before.status) || before.expires_at > now) return null
        const rec: SessionRecord = { ...before, v: before.v + 1, status: 'expired' }
        const event = {
          actor: 'airlock',
          session_id: rec.id,
          details: { ...summary(rec), from: before.status, reason: reasonForExpiry(before.status) },
        }
        const r = await records
          .replaceWith('expire', rec, before, event, { statusOnly: true })
          .catch((e: unknown) => {
            // Too few replicas acknowledged it, but the primary holds it: the session is expired
            // (and never claimed again), so its credentials are revoked now; the batch reports the error after.
            if (!(e instanceof ReplicaAckError)) throw e
            unacked = e
            return 'ok'
          })
        return r === 'ok' ? { before, rec } : null
      }),
    )
    const ended: { before: SessionRecord; rec: SessionRecord }[] = []
    let failure: unknown = unacked
    for (const s of settled) {
      if (s.status === 'rejected') failure ??= s.reason
      else if (s.value) ended.push(s.value)
    }
    deps.metrics.expired.inc(ended.length)
    // Revocation failures go to the durable retry queue (the revoker never throws).
    const live = ended.filter(({ before }) => step('expire', before.status, 'expired').revokesCredentials)
    await bounded(live, REVOKE_CONCURRENCY, ({ rec }) => deps.revoker.revokeCredentials(rec))
    for (const { rec } of ended) await deps.onChange?.(rec)
    // Claims of sessions not written lapse after CLAIM_MS, and they are claimed again.
    if (failure) throw failure instanceof Error ? failure : new Error(String(failure))
    return { due: ids.length, expired: ended.length }
  }

  return { expireBatch }
}

export type Expiry = ReturnType<typeof createExpiry>
