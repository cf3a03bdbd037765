// Ending live sessions: the agent ends its own (`end`), an operator, a lock or Airlock revokes
// (`revoke`); a session whose deadline already passed is recorded as expired (`expire`) instead.
// The ending and its audit event are written in one atomic append; then the provider's credentials
// are revoked when the lifecycle says so. Revocation never waits for the audit log: when it cannot
// be written, the ending is written alone and its event is owed (owed-events.ts), written late.
import type { FastifyBaseLogger } from 'fastify'
import type { AuditInput, AuditLog } from '../audit/log.js'
import { iso, type Clock } from '../clock.js'
import type { SessionRecord } from '../domain/session.js'
import { isFinal } from '../domain/status.js'
import { AirlockError } from '../errors.js'
import type { Metrics } from '../metrics.js'
import { ReplicaAckError } from '../store/durable.js'
import type { Store } from '../store/types.js'
import { summary } from './model.js'
import { liveMatching } from './matching.js'
import { createOwedEvents } from './owed-events.js'
import type { Change, SessionRecords } from './records.js'
import type { Revoker } from './revoker.js'

export interface EndingDeps {
  store: Store
  clock: Clock
  records: SessionRecords
  audit: AuditLog
  metrics: Metrics
  revoker: Revoker
  log: FastifyBaseLogger
  onChange?: (rec: SessionRecord) => Promise<void>
}

export function createEnding(deps: EndingDeps) {
  const { store, records, audit, metrics, revoker, log } = deps
  const owed = createOwedEvents({ audit, log })

  /** The ending's audit event (its type is the lifecycle step's), of `rec` and the record it replaced. */
  const eventOf = (rec: SessionRecord, before: SessionRecord, by: string, reason: string) => ({
    actor: rec.status === 'expired' ? 'airlock' : by,
    session_id: rec.id,
    details: { ...summary(rec), from: before.status, reason },
  })

  async function afterEnd(c: Change) {
    ;(c.rec.status === 'expired' ? metrics.expired : metrics.revoked).inc()
    if (c.step?.revokesCredentials) await revoker.revokeCredentials(c.rec)
    await deps.onChange?.(c.rec)
  }

  /**
   * Ends a live session as `verb` (end: its agent; revoke: anyone else), or as expired when its
   * deadline already passed. `handle`: the provider handle of credentials minted but not yet
   * recorded, so the one revocation covers them. Idempotent.
   */
  async function finish(
    verb: 'end' | 'revoke',
    id: string,
    by: string,
    reason: string,
    handle?: Record<string, string>,
  ): Promise<Change> {
    // Whether the last attempt reached the append (so a failure is the audit log's, not a missing
    // session or a read that failed), and the time of the last attempt (the ending's, if it lands).
    let appending = false
    let at = 0
    const end = (cur: SessionRecord, now: number): SessionRecord | null => {
      appending = false
      at = now
      if (isFinal(cur.status)) return null
      const h = handle ?? cur.handle
      if (cur.expires_at <= now) return { ...cur, status: 'expired', handle: h }
      return { ...cur, status: 'revoked', revoked_by: by, revoked_at: now, handle: h }
    }
    let r: Change
    try {
      r = await records.changeWith(
        id,
        [verb, 'expire'],
        end,
        (rec, before) => {
          appending = true
          return eventOf(rec, before, by, reason)
        },
        { nothing: 'the session did not end', landed: afterEnd },
      )
    } catch (e) {
      // Too few replica acknowledgements: it landed with its event, and `landed` ran.
      if (e instanceof ReplicaAckError || !appending) throw e
      // The audit log cannot be written (or never answered): end the session without its event.
      return endUnaudited(verb, id, end, (c) => {
        const type = c.step?.event ?? (c.rec.status === 'expired' ? 'session.expired' : 'session.revoked')
        const event = eventOf(c.rec, c.before, by, reason)
        log.error(
          { session: id, err: (e as Error).message },
          'audit log cannot be written: the session ended, its event is kept to be written late',
        )
        return { type, ...event, details: { ...event.details, late: true, ended_at: iso(at) } }
      })
    }
    // Already finished: perhaps by an earlier try whose replicas did not answer in time. Answer
    // only once the replicas hold it.
    if (r.changed) await afterEnd(r)
    else await store.confirmWrites()
    return r
  }

  /**
   * The ending without its event, as when the audit log cannot be written: revocation never
   * depends on it. The event of a change that lands is owed (nothing is owed when the record was
   * already final: whoever ended it wrote the event, perhaps the append whose answer was lost).
   */
  async function endUnaudited(
    verb: 'end' | 'revoke',
    id: string,
    end: (cur: SessionRecord, now: number) => SessionRecord | null,
    lateEvent: (c: Change) => AuditInput,
  ): Promise<Change> {
    const landed = async (c: Change) => {
      owed.owe(lateEvent(c))
      await afterEnd(c)
    }
    const r = await records.change(id, [verb, 'expire'], end, { landed })
    if (r.changed) await landed(r)
    else await store.confirmWrites()
    return r
  }

  /**
   * Revokes every live session matching `match` (the sessions liveMatching finds, as the console's
   * preview lists them); returns their ids.
   */
  async function revokeMatching(
    by: string,
    reason: string | ((r: SessionRecord) => string),
    match: (r: SessionRecord) => boolean,
    /** Only these sessions (a provider's list); default: every live one. */
    only?: string[],
  ): Promise<string[]> {
    const revoked: string[] = []
    // Too few replica acknowledgements does not stop the sweep: every match is revoked on the
    // primary first, then the caller hears of it.
    let unacked: ReplicaAckError | null = null
    for await (const recs of liveMatching(deps, match, only)) {
      for (const r of recs) {
        const why = typeof reason === 'string' ? reason : reason(r)
        const t = await finish('revoke', r.id, by, why).catch((e: unknown) => {
          if (e instanceof AirlockError && e.code === 'not_found') return null
          if (!(e instanceof ReplicaAckError)) throw e
          unacked = e
          return null
        })
        if (t?.changed && t.rec.status === 'revoked') revoked.push(r.id)
      }
    }
    if (unacked) throw unacked
    return revoked
  }

  return { finish, revokeMatching, close: () => owed.close() }
}

export type Ending = ReturnType<typeof createEnding>
