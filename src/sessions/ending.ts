// Ending live sessions: the agent ends its own (`end`), an operator, a lock or Airlock revokes
// (`revoke`); a session whose deadline already passed is recorded as expired (`expire`) instead.
// The provider's credentials are revoked when the lifecycle says so, and the ending is audited.
import type { FastifyBaseLogger } from 'fastify'
import type { AuditLog } from '../audit/log.js'
import type { Clock } from '../clock.js'
import type { SessionRecord } from '../domain/session.js'
import { isFinal } from '../domain/status.js'
import { AirlockError } from '../errors.js'
import type { Metrics } from '../metrics.js'
import { ReplicaAckError } from '../store/durable.js'
import type { Store } from '../store/types.js'
import { summary } from './model.js'
import { liveMatching } from './matching.js'
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

  async function afterEnd(c: Change, by: string, reason: string) {
    const { before, rec } = c
    const expired = rec.status === 'expired'
    ;(expired ? metrics.expired : metrics.revoked).inc()
    if (c.step?.revokesCredentials) await revoker.revokeCredentials(rec)
    // The state change stands even if the audit write fails: revocation is the safe direction.
    await audit
      .record({
        type: c.step?.event ?? (expired ? 'session.expired' : 'session.revoked'),
        actor: expired ? 'airlock' : by,
        session_id: rec.id,
        details: { ...summary(rec), from: before.status, reason },
      })
      .catch((e: unknown) =>
        log.error({ session: rec.id, err: (e as Error).message }, 'audit write failed after revocation'),
      )
    await deps.onChange?.(rec)
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
    const landed = (c: Change) => afterEnd(c, by, reason)
    const r = await records.change(
      id,
      [verb, 'expire'],
      (cur, now) => {
        if (isFinal(cur.status)) return null
        const h = handle ?? cur.handle
        if (cur.expires_at <= now) return { ...cur, status: 'expired', handle: h }
        return { ...cur, status: 'revoked', revoked_by: by, revoked_at: now, handle: h }
      },
      { landed },
    )
    if (r.changed) await landed(r)
    // Already finished: perhaps by an earlier try whose replicas did not answer in time. Answer
    // only once the replicas hold it.
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

  return { finish, revokeMatching }
}

export type Ending = ReturnType<typeof createEnding>
