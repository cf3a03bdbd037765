// What the config in force says of a session recorded under an earlier one (a reload may have
// tightened the policy since): who may still approve or deny it, which of its approvals still
// count, and whether it may stand at all. Approvals, claims, the console and reloads all ask here,
// through the same decide() that judges a new request, so they cannot disagree.
import { isGateway } from '../../providers/gateway/provider.js'
import type { SessionRecord } from '../domain/session.js'
import { decide, DESTRUCTIVE_MIN_APPROVALS, isDestructive, type Decision } from '../policy/decide.js'
import type { Runtime } from '../runtime.js'

/**
 * The policy decision in force now for a recorded request. Whether its approvers have a way to
 * act (an API key, a Slack id, a console sign-in) counts only while it waits for approvals: those
 * already given stand, and a reload that takes Slack away must not undo them.
 */
export function decideNow(rt: Runtime, rec: SessionRecord): Decision {
  const { unreachable: _, ...anyReach } = rt.policy
  return decide(rec.status === 'pending_approval' ? rt.policy : anyReach, {
    agent: rec.agent,
    environment: rec.environment,
    operationClass: rec.operation_class,
    provider: rec.provider,
    onBehalfOf: rec.on_behalf_of,
  })
}

/**
 * True when a reload made the class of `rec` destructive on a gateway, which approves such a class
 * one call at a time, and `rec` names no call (the gateway would refuse every one of its calls).
 */
const lacksAction = (rt: Runtime, rec: SessionRecord): boolean =>
  isDestructive(rt.config.operationClasses, rec.operation_class) &&
  !rec.action_digest &&
  isGateway(rt.providers.get(rec.provider))

/** Why the config in force (`d`, its decision for `rec`) would not grant `rec` as requested, or null. */
export function whyNotGrantable(
  rt: Runtime,
  rec: SessionRecord,
  d: Decision = decideNow(rt, rec),
): string | null {
  if (!d.allow) return d.reason
  if (lacksAction(rt, rec))
    return `operation class ${rec.operation_class} is now destructive, and ${rec.provider} approves it one call at a time: this request names no action; request it again with its action`
  return null
}

/** Everyone who owns the request's agent: recorded at request time, and as configured now. */
const ownersOf = (rt: Runtime, rec: SessionRecord) =>
  new Set([...rec.owners, ...(rt.agents.get(rec.agent)?.owners ?? [])])

/** Why `human` may never approve `rec`, whatever the policy says, or null. */
function personally(rt: Runtime, rec: SessionRecord, human: string): string | null {
  const h = rt.humans.get(human)
  if (!h || !h.roles.includes('approver')) return `${human} does not have the approver role`
  if (ownersOf(rt, rec).has(human))
    return `${human} owns ${rec.agent}: an agent's owners never approve its requests`
  if (rec.on_behalf_of === human) return `the request was made on behalf of ${human}, who cannot approve it`
  return null
}

/** The approvers of `rec` eligible both when it was made and under `now`. */
const stillEligible = (rec: SessionRecord, now: Decision): string[] =>
  rec.eligible_approvers.filter((id) => now.allow && now.eligibleApprovers.includes(id))

/** Why `human` may not approve `rec` under the current config, or null when they may. */
export function whyNotApprover(rt: Runtime, rec: SessionRecord, human: string): string | null {
  const personal = personally(rt, rec, human)
  if (personal !== null) return personal
  const d = decideNow(rt, rec)
  const refused = whyNotGrantable(rt, rec, d)
  if (refused !== null)
    return `the policy no longer allows this request (${refused}), so it cannot be approved; deny it or let it expire`
  const eligible = stillEligible(rec, d)
  if (!eligible.includes(human)) {
    return `${human} is not an eligible approver for this request (eligible: ${eligible.join(', ') || 'nobody'})`
  }
  return null
}

/**
 * Anyone who may approve, and the agent's owners, may deny; and when the policy no longer allows
 * the request (so nobody may approve it), the approvers it named who still hold the role, since
 * their deny only confirms the policy.
 */
export function whyNotDenier(rt: Runtime, rec: SessionRecord, human: string): string | null {
  if (ownersOf(rt, rec).has(human)) return null
  const why = whyNotApprover(rt, rec, human)
  if (why === null) return null
  const named =
    rec.eligible_approvers.includes(human) &&
    rec.on_behalf_of !== human &&
    rt.humans.get(human)?.roles.includes('approver') === true
  if (named && whyNotGrantable(rt, rec) !== null) return null
  return `${why}; only eligible approvers and the agent's owners may deny`
}

/** The approvals of `rec` that still count: from people who could still approve it (`d`: now). */
export function approvalsThatCount(
  rt: Runtime,
  rec: SessionRecord,
  d: Decision = decideNow(rt, rec),
): number {
  const eligible = stillEligible(rec, d)
  return rec.approvals.filter((a) => personally(rt, rec, a.by) === null && eligible.includes(a.by)).length
}

/**
 * Why the config in force would not leave the live session `rec` standing as it is, in one plain
 * sentence (the reason its revocation is audited with), or null. Any live session the policy now
 * refuses; one already approved (active, or waiting to be claimed) with fewer approvals that still
 * count than the policy now needs, since it can gain no more; a gateway session of a class now
 * approved one call at a time that names no call. A pending request whose approvals were raised
 * stands: it keeps collecting them.
 */
export function whyNotStanding(rt: Runtime, rec: SessionRecord): string | null {
  const what = `${rec.agent} ${rec.operation_class} on ${rec.environment} with ${rec.provider}`
  const d = decideNow(rt, rec)
  // With no rule matching, decide's reason only repeats `what`.
  if (!d.allow) return `the policy no longer allows ${what}${d.rule === null ? '' : ` (${d.reason})`}`
  if (rec.status !== 'pending_approval') {
    const counted = approvalsThatCount(rt, rec, d)
    if (counted < d.approvals) {
      const destructive = isDestructive(rt.config.operationClasses, rec.operation_class)
      const needs =
        destructive && d.approvals === DESTRUCTIVE_MIN_APPROVALS
          ? `operation class ${rec.operation_class} now needs ${d.approvals} approvals (it is destructive)`
          : `${what} now needs ${d.approvals} approval${d.approvals === 1 ? '' : 's'}`
      const had = rec.approvals.length
      const of = counted === had ? `${had}` : `${had}, ${counted} of them from approvers still eligible`
      return `${needs}; this session had ${of}`
    }
  }
  if (lacksAction(rt, rec))
    return `operation class ${rec.operation_class} is now destructive, and ${rec.provider} approves it one call at a time; this session names no action`
  return null
}
