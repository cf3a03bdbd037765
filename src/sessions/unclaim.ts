// Undoing a claim whose write failed, so that the agent's retry finds the grant still claimable
// (an outage costs a retry, not a new approval). A claim writes approved -> active, or approved ->
// issuing then the activation, with its audit event; any of these writes may fail:
// - landed but acknowledged by too few Redis replicas (store.replica_acks: ReplicaAckError);
// - refused (the store or the audit log cannot be written), or its reply lost: it may have
//   landed or not, and the store is read to tell.
// The undo: what the attempt minted is revoked (its token was never handed out), then, if the
// store holds a record the attempt wrote (its jti, issuing or active), that exact version is
// compared-and-set back to approved (the `unclaim` step, jti and handle forgotten, with the claim
// deadline it had). A revoke, a lock or an expiry that landed meanwhile changed the version or the
// status, and wins; a second claim cannot have started, as the session was not approved. The
// session is not returned to approved while the minted credentials are neither revoked nor queued
// for revocation: the record still names them for the sweeper. When the store cannot be written
// at all, the session stays as the attempt left it: issuing (expired at its issuing deadline) or
// active (expired at the end of its TTL), its token never handed out; a retry meanwhile is 409.
// Providers name what they mint after the issue attempt, so the undone attempt's revocation (even
// one queued for a retry) never reaches the credentials a later claim mints.
import type { FastifyBaseLogger } from 'fastify'
import type { SessionRecord } from '../domain/session.js'
import { err } from '../errors.js'
import { ReplicaAckError } from '../store/durable.js'
import type { Store } from '../store/types.js'
import { summary } from './model.js'
import type { SessionRecords } from './records.js'
import type { Revoker, RevokeOutcome } from './revoker.js'

const UNACKED = 'too few Redis replicas acknowledged the claim in time'
const UNWRITTEN = 'the store or the audit log could not record the claim'

export interface UnclaimDeps {
  store: Store
  records: SessionRecords
  revoker: Revoker
  log: FastifyBaseLogger
}

export function createUnclaim(deps: UnclaimDeps) {
  const { store, records, revoker, log } = deps

  /**
   * Puts the attempt's own record back to approved: 'undone'; 'untouched' when the claim never
   * landed (still approved, as claimed); 'ended' when someone else changed it.
   */
  async function putBack(
    approved: SessionRecord,
    attempt: SessionRecord,
    revoked: RevokeOutcome | null,
    why: string,
  ): Promise<'undone' | 'untouched' | 'ended'> {
    const cur = await store.getSession(attempt.id)
    if (!cur) return 'ended'
    if (cur.status === 'approved' && cur.v === approved.v) return 'untouched'
    // Only a record this attempt wrote carries its jti while issuing or active.
    if (cur.jti !== attempt.jti || (cur.status !== 'issuing' && cur.status !== 'active')) return 'ended'
    const back: SessionRecord = { ...approved, status: 'approved', v: cur.v + 1, jti: null, handle: null }
    const event = {
      actor: 'airlock',
      session_id: attempt.id,
      details: {
        ...summary(back),
        from: cur.status,
        jti: attempt.jti,
        credentials_revoked: revoked === 'revoked',
        ...(revoked === 'queued' && { credentials_revocation_queued: true }),
        reason: `${why}; the grant can be claimed again`,
      },
    }
    try {
      return (await records.replaceWith('unclaim', back, cur, event)) === 'ok' ? 'undone' : 'ended'
    } catch (e) {
      // Too few acknowledgements again (the replicas are still away): the primary holds it.
      if (e instanceof ReplicaAckError) return 'undone'
      throw e
    }
  }

  /**
   * Undoes the claim of `approved` (the record as claimed) whose write failed with `cause`:
   * `attempt` is the record the attempt last wrote or tried to write, `minted` the handle of
   * credentials it minted outside Airlock (null: none). Always throws: the caller's 503, or
   * `cause` itself when the claim never landed and nothing was minted.
   */
  async function undo(
    approved: SessionRecord,
    attempt: SessionRecord,
    minted: Record<string, string> | null,
    cause: unknown,
  ): Promise<never> {
    const why = cause instanceof ReplicaAckError ? UNACKED : UNWRITTEN
    // Revoked now, or queued and retried until the provider confirms: either way it names this
    // attempt's credentials only (the record carries the attempt's jti).
    const revoked = minted ? await revoker.revokeOrQueue({ ...attempt, handle: minted }) : null
    const outcome =
      revoked === 'unqueued'
        ? 'unknown'
        : await putBack(approved, attempt, revoked, why).catch((e: unknown) => {
            log.error(
              { session: attempt.id, err: (e as Error).message },
              'a failed claim could not be undone',
            )
            return 'unknown' as const
          })
    // The claim never landed: the caller's own answer says so (and that a retry may claim).
    if (outcome === 'untouched' && !(cause instanceof ReplicaAckError)) throw cause
    // 'ended': a revoke, a lock or an expiry won. 'unknown': the store could not be read or
    // written; the session stays as the attempt left it, its token never handed out.
    throw err.unavailable(
      outcome === 'undone' || outcome === 'untouched'
        ? `${why}; nothing was issued and the grant can still be claimed: retry`
        : `${why}; nothing was issued`,
      cause,
    )
  }

  return { undo }
}

export type Unclaim = ReturnType<typeof createUnclaim>
