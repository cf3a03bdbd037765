// The sessions an MCP server holds for its agent: their grants stay in this process's memory, and
// what the tools report of them is the session's public state, never a token or a credential.
import type { ClientConfig } from '../client/client.js'
import { call } from '../client/client.js'
import { endSession, type Grant, type Session } from '../client/sessions.js'
import { redactor, secretsOf, type Redactor } from './redact.js'

/** A session this server may still have to end: dropped once it is over. */
interface Held {
  session: Session
  grant?: Grant
  redactor?: Redactor
  /** The broker is being asked whether it is over. */
  checking?: boolean
}

/** Nothing is left to end of a session in these. */
const OVER = new Set<Session['status']>(['denied', 'revoked', 'expired'])

export interface Usable {
  session: Session
  grant: Grant
  redactor: Redactor
}

const approvalsLine = (s: Session) => {
  const by = s.approvals.map((a) => a.by).join(', ')
  return `${s.approvals.length} of ${s.approvals_required} approvals${by ? `: ${by}` : ''}`
}

/** What the status means for the agent, in one or two sentences. */
function statusMessage(s: Session): string {
  switch (s.status) {
    case 'active':
      return `Active until ${s.expires_at}: use run_with_access or gateway_request with session_id ${s.id}, and release_access when done.`
    case 'approved':
      return `Approved (${approvalsLine(s)}): use it with run_with_access or gateway_request before ${s.expires_at}.`
    case 'pending_approval':
      return `Waiting for approval (${approvalsLine(s)}) until ${s.expires_at}: call access_status with wait_seconds to wait.`
    case 'denied':
      return `Denied by ${s.denied_by ?? 'an approver'}.`
    case 'revoked':
      return `Revoked${s.revoked_by ? ` by ${s.revoked_by}` : ''}.`
    case 'expired':
      return `Expired at ${s.expires_at}.`
  }
}

export const progressMessage = approvalsLine

export function summary(s: Session) {
  return {
    session_id: s.id,
    status: s.status,
    environment: s.environment,
    operation_class: s.operation_class,
    provider: s.provider,
    approvals_required: s.approvals_required,
    approvals: s.approvals.map((a) => ({ by: a.by, via: a.via, at: a.at, comment: a.comment })),
    expires_at: s.expires_at,
    message: statusMessage(s),
  }
}

export function heldSessions(c: ClientConfig) {
  const held = new Map<string, Held>()
  // The agent's own key is a secret too: redacted from every output, whatever printed it.
  const own = c.token
  const pathOf = (id: string) => `/v1/sessions/${encodeURIComponent(id)}`

  const keep = (session: Session, grant?: Grant) => {
    if (OVER.has(session.status)) return void held.delete(session.id)
    const h = held.get(session.id) ?? { session }
    h.session = session
    if (grant) {
      h.grant = grant
      h.redactor = redactor([own, ...secretsOf(grant)])
    }
    held.set(session.id, h)
  }
  const seen = (s: Session) => {
    if (held.has(s.id)) keep(s)
  }

  /**
   * Drops what ran out unseen, so a long-running server does not hold every session it ever had:
   * an active one past its end (its token's, which never moves). A pending or approved one past
   * the end last seen is asked about instead, as an approval moves that end.
   */
  const sweep = () => {
    const now = Date.now()
    for (const [id, h] of held) {
      if (Date.parse(h.session.expires_at) > now) continue
      if (h.session.status === 'active') held.delete(id)
      else if (!h.checking) {
        h.checking = true
        call<Session>(c, 'GET', pathOf(id))
          .then(seen, () => {}) // unknown: kept, and ended on close
          .finally(() => (h.checking = false))
      }
    }
  }

  // One claim per session: a host sends a model's parallel tool calls at once, and a second claim
  // of the same session would be refused by the broker.
  const claiming = new Map<string, Promise<void>>()
  const claim = (id: string) => {
    let p = claiming.get(id)
    if (!p) {
      p = call<{ session: Session; grant: Grant }>(c, 'POST', `${pathOf(id)}/grant`)
        .then((r) => keep(r.session, r.grant))
        .finally(() => claiming.delete(id))
      claiming.set(id, p)
    }
    return p
  }

  /** Calls that may open a session, still waiting for the broker: closing waits for them. */
  const opening = new Set<Promise<unknown>>()

  return {
    /** Asks the broker for a session, keeping it as soon as the answer arrives (even while closing). */
    open(body: object): Promise<{ session: Session; grant?: Grant }> {
      sweep()
      const p = call<{ session: Session; grant?: Grant }>(c, 'POST', '/v1/sessions', body).then((r) => {
        keep(r.session, r.grant)
        return r
      })
      const tracked = p.finally(() => opening.delete(tracked))
      opening.add(tracked)
      return p
    },
    /** Claims the grant when the session is approved; refuses what cannot be used, saying why. */
    async usable(id: string): Promise<Usable> {
      const s = await call<Session>(c, 'GET', pathOf(id))
      // Only sessions this server opened or claims are held (and ended when it closes).
      seen(s)
      // A read that started before this server's own claim ended still says approved.
      const claimed = held.get(id)?.grant !== undefined
      if (s.status === 'approved' && !claimed) {
        await claim(id)
      } else if (s.status === 'pending_approval') {
        throw new Error(
          `session ${id} still waits for approval (${approvalsLine(s)}): call access_status with wait_seconds`,
        )
      } else if (s.status !== 'active' && s.status !== 'approved') {
        throw new Error(`session ${id} is ${s.status}: ${statusMessage(s)} Request access again.`)
      }
      const h = held.get(id)
      if (!h?.grant || !h.redactor) {
        throw new Error(
          `session ${id} was claimed outside this server, so its credentials are not here: request a new session`,
        )
      }
      return { session: h.session, grant: h.grant, redactor: h.redactor }
    },
    async release(id: string): Promise<Session> {
      const r = await call<{ session: Session }>(c, 'DELETE', pathOf(id))
      held.delete(id)
      return r.session
    },
    /** Updates what is known of a held session (a status read); one that is over is dropped. */
    seen,
    /** Ends every session this server holds; returns those the broker did not end. */
    async endAll(): Promise<string[]> {
      // A request or a claim the broker may already have done is ended too, once it is known.
      await Promise.allSettled([...opening, ...claiming.values()])
      const open = [...held.keys()]
      const ok = await Promise.all(open.map((id) => endSession(c, id)))
      open.forEach((id, i) => ok[i] && held.delete(id))
      return open.filter((_, i) => !ok[i])
    },
    /** A withdrawn request: already ended. */
    ended(id: string) {
      held.delete(id)
    },
    /** How many sessions are held: those this server may still have to end on close. */
    size: () => held.size,
  }
}

export type HeldSessions = ReturnType<typeof heldSessions>
