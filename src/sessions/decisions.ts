// The verbs of the two-person rule on the session: a human approves or denies a pending request,
// and the owning agent claims an approved grant. Who may decide is the approvals service's
// question (src/approvals); here each decision is one compare-and-set written in the same atomic
// append as its audit event, so racing approvals, denials, revokes, expiries and claims on any
// replica leave one outcome and one trail, and a decision the audit log cannot hold is not made.
import { iso } from '../clock.js'
import type { Grant } from '../domain/grant.js'
import { effectiveStatus, type Approval, type SessionRecord } from '../domain/session.js'
import { err } from '../errors.js'
import type { Store } from '../store/types.js'
import type { Issuing } from './issuing.js'
import { allows } from './lifecycle.js'
import type { Change, SessionRecords, StepEvent } from './records.js'

export interface DecisionInput {
  by: string
  via: Approval['via']
  comment: string | null
  /** How long an approved request may be claimed. */
  claimWindowMs: number
  /**
   * The approvals the policy in force needs for `cur`: a reload may have raised them since the
   * request was made, and a request approved with fewer could never be claimed.
   */
  approvalsNeeded?: (cur: SessionRecord) => number
  /**
   * How many of `rec`'s approvals count under the policy in force: a reload may have made an
   * earlier approver ineligible (now the agent's owner, say), and a request approved with such an
   * approval could never be claimed. Without it, every approval counts.
   */
  approvalsCounting?: (rec: SessionRecord) => number
}

/**
 * Runs on the current record inside the compare-and-set: throws when `by` may not decide;
 * 'repeat' when this decision is already recorded (nothing is written again).
 */
export type DecisionCheck = (cur: SessionRecord, now: number) => 'repeat' | undefined

export function createDecisions(deps: {
  store: Store
  records: SessionRecords
  issuing: Issuing
  onChange?: (rec: SessionRecord) => Promise<void>
}) {
  const { store, records, issuing } = deps
  const notify = async (rec: SessionRecord) => deps.onChange?.(rec)

  const eventOf = (rec: SessionRecord, d: DecisionInput): StepEvent => {
    const details: Record<string, unknown> = {
      agent: rec.agent,
      environment: rec.environment,
      operation_class: rec.operation_class,
      provider: rec.provider,
      task_id: rec.task.id,
      via: d.via,
      comment: d.comment,
    }
    if (rec.status !== 'denied') {
      const complete = rec.status === 'approved'
      Object.assign(details, {
        approvals: rec.approvals.length,
        approvals_required: rec.approvals_required,
        approvers: rec.approvals.map((a) => a.by),
        ...(complete && { claim_by: iso(rec.expires_at) }),
      })
    }
    return { actor: d.by, session_id: rec.id, details }
  }

  /**
   * A human's approval or denial of a pending request. One deny ends it; each approval is counted
   * once per human, and the last one required approves it (the claim window starts then).
   */
  async function decide(
    id: string,
    verb: 'approve' | 'deny',
    d: DecisionInput,
    check: DecisionCheck,
  ): Promise<{ rec: SessionRecord; changed: boolean }> {
    let repeat = false
    // A decision written on the primary (with its event) but acknowledged by too few replicas is
    // told all the same (the caller gets the decision's 503), so a retry finds nothing left to do.
    const landed = (c: Change) => notify(c.rec)
    const c = await records.changeWith(
      id,
      verb,
      (cur, now) => {
        repeat = check(cur, now) === 'repeat'
        if (repeat) return null
        const status = effectiveStatus(cur, now)
        if (!allows(verb, cur.status) || status !== 'pending_approval')
          throw err.conflict(`the request is ${status}, not pending approval`)
        if (verb === 'deny') return { ...cur, status: 'denied', denied_by: d.by }
        if (cur.approvals.some((a) => a.by === d.by))
          throw err.conflict(`${d.by} already approved this request`)
        const approvals = [...cur.approvals, { by: d.by, via: d.via, at: now, comment: d.comment }]
        // Never fewer than the request was made with (a reload that lowers them does not apply).
        const required = Math.max(cur.approvals_required, d.approvalsNeeded?.(cur) ?? 0)
        const counted = { ...cur, approvals, approvals_required: required }
        if ((d.approvalsCounting?.(counted) ?? approvals.length) < required) return counted
        // The claim window starts now; the sweeper expires an unclaimed grant at this deadline.
        return { ...counted, status: 'approved', expires_at: now + d.claimWindowMs }
      },
      (rec) => eventOf(rec, d),
      { nothing: 'nothing was decided', unsure: `the ${verb === 'approve' ? 'approval' : 'denial'}`, landed },
    )
    if (!c.changed) {
      // Recorded already, perhaps by an earlier try whose replicas did not answer in time: answer
      // only once the replicas hold it.
      if (repeat) await store.confirmWrites()
      return { rec: c.rec, changed: false }
    }
    await notify(c.rec)
    return { rec: c.rec, changed: true }
  }

  /**
   * The owning agent's claim of an approved grant (`base`: the record as read, its TTL as the
   * policy now allows). Minted only if the record is still exactly as read and no lock covers it,
   * so a second claim, a revoke or an expiry racing this one wins or loses whole.
   */
  async function claim(base: SessionRecord): Promise<{ rec: SessionRecord; grant: Grant }> {
    if (base.status !== 'approved') throw err.conflict(`the session is ${base.status}`)
    const r = await issuing.issue(base, null)
    await notify(r.rec)
    return r
  }

  return { decide, claim }
}

export type Decisions = ReturnType<typeof createDecisions>
