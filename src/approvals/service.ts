// The two-person rule: who may approve, deny and claim. The state changes themselves are the
// session's verbs (src/sessions/decisions.ts): each decision is one compare-and-set on the record
// with the eligibility checks inside it, so racing approvals, denials, revokes, expiries and claims
// on any replica leave one outcome and one trail.
import type { FastifyBaseLogger } from 'fastify'
import type { AuditLog } from '../audit/log.js'
import type { Via } from '../audit/via.js'
import { hasRole, type Principal, type RouteRole } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import type { Grant } from '../domain/grant.js'
import { effectiveStatus, toPublic, type PublicSession, type SessionRecord } from '../domain/session.js'
import { isFinal } from '../domain/status.js'
import { AirlockError, err } from '../errors.js'
import { approvalsThatCount, decideNow, whyNotApprover, whyNotDenier, whyNotGrantable } from './policy-now.js'
import type { Runtime } from '../runtime.js'
import type { DecisionsInFlight } from '../sessions/in-flight.js'
import type { SessionService } from '../sessions/service.js'
import type { SessionStore } from '../store/types.js'

export type Decision = 'approve' | 'deny'
export type { Via } from '../audit/via.js'

export interface ApprovalDeps {
  sessions: SessionService
  store: Pick<SessionStore, 'getSession'>
  runtime: () => Runtime
  /** Counts an approval or denial until it is written, so a reload judges its session. */
  inFlight: Pick<DecisionsInFlight, 'begin'>
  audit: AuditLog
  clock: Clock
  log: FastifyBaseLogger
}

/** The roles that may approve or deny at all (which requests: whyNotApprover, whyNotDenier). */
export const DECIDING_ROLES: readonly RouteRole[] = ['approver', 'operator', 'admin']

/**
 * Whether `human`'s decision is already recorded on `rec`: an approval among its approvals, or
 * the denial that ended it. With store.replica_acks, a decision whose write answered 503 (the
 * replicas did not acknowledge it in time, though the primary holds it) is retried by the same
 * human; the retry finds it recorded and succeeds without a second write.
 */
export const alreadyDecided = (rec: SessionRecord, human: string, decision: Decision): boolean =>
  decision === 'approve'
    ? rec.approvals.some((a) => a.by === human)
    : rec.status === 'denied' && rec.denied_by === human

export function createApprovalService(deps: ApprovalDeps) {
  const { sessions, store, audit, clock, log } = deps

  async function refusedClaim(agent: string, rec: SessionRecord, reason: string) {
    log.warn({ session: rec.id, agent, reason }, 'grant claim refused (possible token theft)')
    await audit
      .record({
        type: 'session.claim_refused',
        actor: agent,
        session_id: rec.id,
        details: { reason, status: effectiveStatus(rec, clock.now()), possible_theft: true },
      })
      .catch(() => log.error({ session: rec.id }, 'audit write failed for a refused claim'))
  }

  return {
    /** An approval or denial by a human, over the API or from Slack. */
    async decide(
      p: Principal,
      id: string,
      decision: Decision,
      comment: string | null,
      via: Via,
    ): Promise<PublicSession> {
      if (p.kind !== 'human') throw err.forbidden('only people approve or deny requests')
      // The API and the console check this on their routes; Slack arrives here directly.
      if (!hasRole(p, DECIDING_ROLES))
        throw err.forbidden(
          `${p.id} has none of the roles that decide requests (${DECIDING_ROLES.join(', ')})`,
        )
      const { rt, done } = deps.inFlight.begin()
      // Without replica acknowledgements a repeat is a second decision (409): a decision whose
      // write went unanswered says so in its 503, and the decider reads before trying again.
      // With them, a repeat may be the retry of a 503 that told to retry.
      const retriable = rt.config.store.replicaAcks > 0
      const deciding = sessions.decide(
        id,
        decision,
        {
          by: p.id,
          via,
          comment,
          claimWindowMs: rt.config.approvals.claimWindowMs,
          approvalsNeeded: (cur) => {
            const now = decideNow(rt, cur)
            return now.allow ? now.approvals : 0
          },
          approvalsCounting: (rec) => approvalsThatCount(rt, rec),
        },
        (cur) => {
          const why = decision === 'approve' ? whyNotApprover(rt, cur, p.id) : whyNotDenier(rt, cur, p.id)
          if (why !== null) throw err.forbidden(why)
          return retriable && alreadyDecided(cur, p.id, decision) ? 'repeat' : undefined
        },
      )
      const { rec } = await deciding.finally(done)
      return toPublic(rec, clock.now())
    },

    /** The owning agent claims the grant of an approved session: minted now, and only once. */
    async claim(p: Principal, id: string): Promise<{ session: PublicSession; grant: Grant }> {
      if (p.kind !== 'agent') throw err.forbidden('only the owning agent claims a grant')
      const rec = await store.getSession(id)
      if (!rec) throw err.notFound()
      if (rec.agent !== p.id) {
        // Another agent's session does not exist for it; but someone holding this id tried to take it.
        await refusedClaim(p.id, rec, `claimed by ${p.id}, not the owning agent`)
        throw err.notFound()
      }
      const explain = async (cur: SessionRecord): Promise<never> => {
        const status = effectiveStatus(cur, clock.now())
        if (status === 'pending_approval') {
          // Counted as the policy in force counts them: a reload may have made one not count.
          const counted = approvalsThatCount(deps.runtime(), cur)
          throw err.pending(
            `the request has ${counted} of ${cur.approvals_required} approvals; wait with GET /v1/sessions/${id}?wait=60`,
          )
        }
        if (isFinal(cur.status) || status === 'expired') throw err.gone(`the session is ${status}`)
        if (cur.status === 'active' || cur.status === 'issuing') {
          await refusedClaim(p.id, cur, 'the grant was already claimed')
          throw err.conflict('the grant was already claimed; a grant is handed out once')
        }
        throw err.conflict(`the session is ${status}`)
      }
      if (rec.status !== 'approved' || effectiveStatus(rec, clock.now()) !== 'approved') return explain(rec)

      // The policy in force now must still allow it (a reload may have tightened it). Not counted
      // as in flight: the claim is written only over the record as read here, so a reload's
      // revocation of it lands first (the claim fails) or revokes the claimed session, and a
      // session the new policy lets stand as approved it lets stand as active too.
      const rt = deps.runtime()
      const decision = decideNow(rt, rec)
      const refused = whyNotGrantable(rt, rec, decision)
      // (A refused decision always has its reason in `refused`; the check also narrows its type.)
      if (refused !== null || !decision.allow)
        throw err.policy(`the policy no longer allows this grant: ${refused}`)
      // Approvals count only from people who are still eligible (a reload may have removed one).
      const valid = approvalsThatCount(rt, rec, decision)
      if (decision.approvals > valid) {
        throw err.policy(`the policy now needs ${decision.approvals} approvals; this request has ${valid}`)
      }
      const base = { ...rec, ttl_seconds: Math.min(rec.ttl_seconds, decision.maxTtlSeconds) }

      try {
        // The claim moves approved -> active only if the record is still exactly `rec` (and no lock
        // covers it), so a second claim, a revoke or an expiry racing this one wins or loses whole.
        const { rec: active, grant } = await sessions.claim(base)
        return { session: toPublic(active, clock.now()), grant }
      } catch (e) {
        if (!(e instanceof AirlockError) || e.code !== 'conflict') throw e
        const cur = await store.getSession(id)
        if (!cur) throw err.notFound()
        return explain(cur)
      }
    },
  }
}

export type ApprovalService = ReturnType<typeof createApprovalService>
