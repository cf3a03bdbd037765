// Undoing a claim the Redis replicas did not acknowledge. With store.replica_acks, a claim's write
// (approved -> active or issuing, the activation, or its audit event) may land on the primary while
// too few replicas acknowledge it in time; the agent then gets a 503 and retries. So that the retry
// finds the grant still claimable, the attempt is undone first: what it minted is revoked (its token
// was never handed out, and the session forgets its jti) and the session goes back to approved (the
// `unclaim` step), with its claim deadline as before. Only the attempt's own record is undone: a
// revoke, a lock or an expiry that landed meanwhile wins, and a session never returns from them.
// Providers name what they mint after the issue attempt, so the undone attempt's revocation (even
// one queued for a retry) never reaches the credentials a later claim mints.
import type { FastifyBaseLogger } from 'fastify'
import type { SessionRecord } from '../domain/session.js'
import { err } from '../errors.js'
import { ReplicaAckError } from '../store/durable.js'
import { summary } from './model.js'
import type { SessionRecords } from './records.js'
import type { Revoker } from './revoker.js'

const UNACKED = 'too few Redis replicas acknowledged the claim in time'

export interface UnclaimDeps {
  records: SessionRecords
  revoker: Revoker
  log: FastifyBaseLogger
}

export function createUnclaim(deps: UnclaimDeps) {
  const { records, revoker, log } = deps

  /**
   * Undoes the claim of `approved` (the record as claimed) whose write was not acknowledged:
   * `attempt` is the record the attempt last wrote, `minted` the handle of credentials it minted
   * outside Airlock (null: none). Always throws the caller's 503.
   */
  async function undo(
    approved: SessionRecord,
    attempt: SessionRecord,
    minted: Record<string, string> | null,
    cause: ReplicaAckError,
  ): Promise<never> {
    // Revoked now, or queued and retried until the provider confirms: either way it names this
    // attempt's credentials only (the record carries the attempt's jti).
    const revoked = minted ? await revoker.revokeCredentials({ ...attempt, handle: minted }) : false
    const back: SessionRecord = { ...approved, status: 'approved', v: attempt.v + 1, jti: null, handle: null }
    const event = {
      actor: 'airlock',
      session_id: attempt.id,
      details: {
        ...summary(back),
        from: attempt.status,
        jti: attempt.jti,
        credentials_revoked: revoked,
        ...(minted !== null && !revoked && { credentials_revocation_queued: true }),
        reason: `${UNACKED}; the grant can be claimed again`,
      },
    }
    let undone: boolean
    try {
      undone = (await records.replaceWith('unclaim', back, attempt, event)) === 'ok'
    } catch (e) {
      // Too few acknowledgements again (the replicas are still away): the primary holds it.
      undone = e instanceof ReplicaAckError
      if (!undone)
        log.error(
          { session: attempt.id, err: (e as Error).message },
          'an unacknowledged claim could not be undone',
        )
    }
    // Not undone: a revoke, a lock or an expiry won (and ended the session), or the store failed
    // (the session then stays as the attempt left it, its token never handed out, until it expires).
    throw err.unavailable(
      undone
        ? `${UNACKED}; nothing was issued and the grant can still be claimed: retry`
        : `${UNACKED}; nothing was issued`,
      cause,
    )
  }

  return { undo }
}

export type Unclaim = ReturnType<typeof createUnclaim>
