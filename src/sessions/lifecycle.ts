// The session lifecycle as data: every change of a session's status is one row of this table,
// named by its verb. The session store (records.ts) applies a change only when the table has its
// row, and passes the verb's from-states to the store, whose Lua scripts (src/store/scripts.ts)
// refuse atomically a record that is no longer in one of them. test/sessions/lifecycle-table.test.ts checks
// that what the scripts accept is what the table says.
import { LIVE, type Status } from '../domain/status.js'

export type Verb =
  | 'request'
  | 'grant'
  | 'start_issuing'
  | 'approve'
  | 'deny'
  | 'claim'
  | 'unclaim'
  | 'activate'
  | 'end'
  | 'revoke'
  | 'expire'

/** Who may take a step: the owning agent, a human deciding, an operator, or Airlock itself. */
export type Actor = 'agent' | 'approver' | 'operator' | 'system'

export interface Transition {
  verb: Verb
  /** null: the step creates the session. */
  from: Status | null
  to: Status
  by: readonly Actor[]
  /** The audit event the step writes (null: the step that completes it writes one). */
  event: string | null
  /**
   * Whether the provider's credentials are revoked (they may exist only from issuing or active):
   * every step that ends a session, and `unclaim`, which revokes those of the undone attempt.
   */
  revokesCredentials: boolean
}

const row = (
  verb: Verb,
  from: Status | null,
  to: Status,
  by: readonly Actor[],
  event: string | null,
  revokesCredentials = false,
): Transition => ({ verb, from, to, by, event, revokesCredentials })

/** Credentials can exist only while a provider mints them or after it did. */
const holdsCredentials = (s: Status) => s === 'issuing' || s === 'active'

/** Ending a live session: by its agent (end), an operator or Airlock (revoke), or its deadline (expire). */
const endings = (verb: Verb, to: Status, by: readonly Actor[], event: string) =>
  LIVE.map((from) => row(verb, from, to, by, event, holdsCredentials(from)))

export const TRANSITIONS: readonly Transition[] = [
  // A request that needs approvals waits for them.
  row('request', null, 'pending_approval', ['agent'], 'session.requested'),
  // A request granted at once, by a provider with nothing outside Airlock: one step, one event.
  row('grant', null, 'active', ['agent'], 'session.issued'),
  // A request granted at once by a provider that mints outside Airlock: minting is a state.
  row('start_issuing', null, 'issuing', ['agent'], null),
  // One approval of several keeps the request pending; the last one approves it.
  row('approve', 'pending_approval', 'pending_approval', ['approver'], 'session.approval'),
  row('approve', 'pending_approval', 'approved', ['approver'], 'session.approved'),
  row('deny', 'pending_approval', 'denied', ['approver'], 'session.denied'),
  // The owning agent claims an approved grant once.
  row('claim', 'approved', 'active', ['agent'], 'session.issued'),
  row('claim', 'approved', 'issuing', ['agent'], null),
  // A claim whose write failed (refused, its reply lost, or acknowledged by too few Redis replicas):
  // what that attempt minted is revoked (its token was never handed out) and the grant goes back to
  // approved, to be claimed again (unclaim.ts).
  row('unclaim', 'active', 'approved', ['system'], 'session.claim_undone', true),
  row('unclaim', 'issuing', 'approved', ['system'], 'session.claim_undone', true),
  // The provider minted: the session is active.
  row('activate', 'issuing', 'active', ['system'], 'session.issued'),
  ...endings('end', 'revoked', ['agent'], 'session.revoked'),
  ...endings('revoke', 'revoked', ['operator', 'system'], 'session.revoked'),
  ...endings('expire', 'expired', ['system'], 'session.expired'),
]

const byVerb = new Map<Verb, Transition[]>()
const froms = new Map<Verb, Status[]>()
for (const t of TRANSITIONS) {
  byVerb.set(t.verb, [...(byVerb.get(t.verb) ?? []), t])
  const f = froms.get(t.verb) ?? []
  if (t.from !== null && !f.includes(t.from)) f.push(t.from)
  froms.set(t.verb, f)
}

/** The statuses a verb may leave (empty for the verbs that create a session). */
export const fromStates = (verb: Verb): readonly Status[] => froms.get(verb) ?? []

/** The table's row for this step, or null when the lifecycle has no such step. */
export function transitionOf(verb: Verb, from: Status | null, to: Status): Transition | null {
  return (byVerb.get(verb) ?? []).find((t) => t.from === from && t.to === to) ?? null
}

/** The row for this step; throws (a bug, never a user's mistake) when the table has none. */
export function step(verb: Verb, from: Status | null, to: Status): Transition {
  const t = transitionOf(verb, from, to)
  if (!t) throw new Error(`the session lifecycle has no step '${verb}' from ${from ?? 'nothing'} to ${to}`)
  return t
}

/** Whether `verb` may leave `from`. */
export const allows = (verb: Verb, from: Status): boolean => fromStates(verb).includes(from)
