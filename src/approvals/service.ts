// The two-person rule: approving, denying and claiming. Every decision is one compare-and-set on the
// session record (sessions.transition), with the eligibility and state checks inside it, so racing
// approvals, denials, revokes, expiries and claims on any replica leave one outcome and one trail.
import type { FastifyBaseLogger } from 'fastify'
import type { AuditInput, AuditLog } from '../audit/log.js'
import type { Via } from '../audit/via.js'
import type { Principal } from '../auth/principal.js'
import { iso, type Clock } from '../clock.js'
import { AirlockError, err } from '../errors.js'
import { decide } from '../policy/decide.js'
import type { Runtime } from '../runtime.js'
import {
  effectiveStatus,
  isFinal,
  toPublic,
  type PublicSession,
  type SessionRecord,
} from '../sessions/model.js'
import type { Grant, SessionService } from '../sessions/service.js'
import type { SessionStore } from '../store/types.js'

export type Decision = 'approve' | 'deny'
export type { Via } from '../audit/via.js'

export interface ApprovalDeps {
  sessions: SessionService
  store: Pick<SessionStore, 'getSession'>
  runtime: () => Runtime
  audit: AuditLog
  clock: Clock
  log: FastifyBaseLogger
  /** Told of every decision and claim (the Slack notifier); must not throw. */
  onChange?: (rec: SessionRecord) => Promise<void>
}

/** The policy decision in force now for a recorded request. */
const decideNow = (rt: Runtime, rec: SessionRecord) =>
  decide(rt.policy, {
    agent: rec.agent,
    environment: rec.environment,
    operationClass: rec.operation_class,
    provider: rec.provider,
    onBehalfOf: rec.on_behalf_of,
  })

/** Everyone who owns the request's agent: recorded at request time, and as configured now. */
const ownersOf = (rt: Runtime, rec: SessionRecord) =>
  new Set([...rec.owners, ...(rt.agents.get(rec.agent)?.owners ?? [])])

/** Why `human` may not approve `rec` under the current config, or null when they may. */
export function whyNotApprover(rt: Runtime, rec: SessionRecord, human: string): string | null {
  const h = rt.humans.get(human)
  if (!h || !h.roles.includes('approver')) return `${human} does not have the approver role`
  if (ownersOf(rt, rec).has(human))
    return `${human} owns ${rec.agent}: an agent's owners never approve its requests`
  if (rec.on_behalf_of === human) return `the request was made on behalf of ${human}, who cannot approve it`
  // Eligible when the request was made, and still eligible under the config in force now.
  const now = decideNow(rt, rec)
  const eligible = rec.eligible_approvers.filter((id) => now.allow && now.eligibleApprovers.includes(id))
  if (!eligible.includes(human)) {
    return `${human} is not an eligible approver for this request (eligible: ${eligible.join(', ') || 'nobody'})`
  }
  return null
}

/** Anyone who may approve, and the agent's owners, may deny. */
export function whyNotDenier(rt: Runtime, rec: SessionRecord, human: string): string | null {
  if (ownersOf(rt, rec).has(human)) return null
  const why = whyNotApprover(rt, rec, human)
  return why === null ? null : `${why}; only eligible approvers and the agent's owners may deny`
}

export function createApprovalService(deps: ApprovalDeps) {
  const { sessions, store, audit, clock, log } = deps
  const notify = async (rec: SessionRecord) => deps.onChange?.(rec)

  /** The state part of "may this request still be decided?": API.md answers 409 when not pending. */
  function assertPending(cur: SessionRecord, now: number) {
    const status = effectiveStatus(cur, now)
    if (status !== 'pending_approval') throw err.conflict(`the request is ${status}, not pending approval`)
  }

  /** Records an audit event for a state change that already happened; if it cannot, ends the session. */
  async function auditOrEnd(rec: SessionRecord, event: AuditInput) {
    try {
      await audit.record(event)
    } catch (e) {
      await sessions.finish(rec.id, 'airlock', 'the audit log could not be written').catch(() => {})
      throw e instanceof AirlockError ? e : err.unavailable('the audit log cannot be written', e)
    }
  }

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
      const rt = deps.runtime()
      const claimWindow = rt.config.approvals.claimWindowMs
      const t = await sessions.transition(id, (cur, now) => {
        const why = decision === 'approve' ? whyNotApprover(rt, cur, p.id) : whyNotDenier(rt, cur, p.id)
        if (why !== null) throw err.forbidden(why)
        assertPending(cur, now)
        if (decision === 'deny') return { ...cur, status: 'denied', denied_by: p.id }
        if (cur.approvals.some((a) => a.by === p.id))
          throw err.conflict(`${p.id} already approved this request`)
        const approvals = [...cur.approvals, { by: p.id, via, at: now, comment }]
        if (approvals.length < cur.approvals_required) return { ...cur, approvals }
        // The claim window starts now; the sweeper expires an unclaimed grant at this deadline.
        return { ...cur, approvals, status: 'approved', expires_at: now + claimWindow }
      })
      const rec = t.rec
      const summary = {
        agent: rec.agent,
        environment: rec.environment,
        operation_class: rec.operation_class,
        provider: rec.provider,
        task_id: rec.task.id,
        via,
        comment,
      }
      if (decision === 'deny') {
        await auditOrEnd(rec, { type: 'session.denied', actor: p.id, session_id: id, details: summary })
      } else {
        const complete = rec.status === 'approved'
        await auditOrEnd(rec, {
          type: complete ? 'session.approved' : 'session.approval',
          actor: p.id,
          session_id: id,
          details: {
            ...summary,
            approvals: rec.approvals.length,
            approvals_required: rec.approvals_required,
            approvers: rec.approvals.map((a) => a.by),
            ...(complete && { claim_by: iso(rec.expires_at) }),
          },
        })
      }
      await notify(rec)
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
          throw err.pending(
            `the request has ${cur.approvals.length} of ${cur.approvals_required} approvals; wait with GET /v1/sessions/${id}?wait=60`,
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

      // The policy in force now must still allow it (a reload may have tightened it).
      const rt = deps.runtime()
      const decision = decideNow(rt, rec)
      if (!decision.allow) throw err.policy(`the policy no longer allows this grant: ${decision.reason}`)
      // Approvals count only from people who are still eligible (a reload may have removed one).
      const valid = rec.approvals.filter((a) => whyNotApprover(rt, rec, a.by) === null).length
      if (decision.approvals > valid) {
        throw err.policy(`the policy now needs ${decision.approvals} approvals; this request has ${valid}`)
      }
      const base = { ...rec, ttl_seconds: Math.min(rec.ttl_seconds, decision.maxTtlSeconds) }

      try {
        // issue() moves approved -> active only if the record is still exactly `rec` (and no lock
        // covers it), so a second claim, a revoke or an expiry racing this one wins or loses whole.
        const { rec: active, grant } = await sessions.issue(base, null)
        await notify(active)
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
