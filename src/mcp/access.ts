// The sessions an MCP server holds for its agent: their grants stay in this process's memory, and
// what the tools report of them is the session's public state, never a token or a credential.
import type { ClientConfig } from '../client/client.js'
import { call } from '../client/client.js'
import { endSession, type Grant, type Session } from '../client/sessions.js'
import { redactor, secretsOf, type Redactor } from './redact.js'

interface Held {
  session: Session
  grant?: Grant
  redactor?: Redactor
  ended: boolean
}

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

  const keep = (session: Session, grant?: Grant) => {
    const h = held.get(session.id) ?? { session, ended: false }
    h.session = session
    if (grant) {
      h.grant = grant
      h.redactor = redactor([own, ...secretsOf(grant)])
    }
    held.set(session.id, h)
    return h
  }

  // One claim per session: a host sends a model's parallel tool calls at once, and a second claim
  // of the same session would be refused by the broker.
  const claiming = new Map<string, Promise<void>>()
  const claim = (id: string, path: string) => {
    let p = claiming.get(id)
    if (!p) {
      p = call<{ session: Session; grant: Grant }>(c, 'POST', `${path}/grant`)
        .then((r) => void keep(r.session, r.grant))
        .finally(() => claiming.delete(id))
      claiming.set(id, p)
    }
    return p
  }

  /** Calls that may open a session, still waiting for the broker: closing waits for them. */
  const opening = new Set<Promise<unknown>>()

  return {
    keep,
    /** Asks the broker for a session, keeping it as soon as the answer arrives (even while closing). */
    open(body: object): Promise<{ session: Session; grant?: Grant }> {
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
      const path = `/v1/sessions/${encodeURIComponent(id)}`
      const s = await call<Session>(c, 'GET', path)
      // Only sessions this server opened or claims are held (and ended when it closes).
      if (held.has(id)) keep(s)
      // A read that started before this server's own claim ended still says approved.
      const claimed = held.get(id)?.grant !== undefined
      if (s.status === 'approved' && !claimed) {
        await claim(id, path)
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
      const r = await call<{ session: Session }>(c, 'DELETE', `/v1/sessions/${encodeURIComponent(id)}`)
      const h = held.get(id)
      if (h) {
        h.session = r.session
        h.ended = true
        delete h.grant
      }
      return r.session
    },
    /** Updates what is known of a held session (a status read). */
    seen(s: Session) {
      if (held.has(s.id)) keep(s)
    },
    /** Ends every session this server opened and has not ended; returns those the broker did not end. */
    async endAll(): Promise<string[]> {
      // A request or a claim the broker may already have done is ended too, once it is known.
      await Promise.allSettled([...opening, ...claiming.values()])
      const open = [...held.entries()].filter(([, h]) => !h.ended).map(([id]) => id)
      const ok = await Promise.all(open.map((id) => endSession(c, id)))
      for (const id of open) held.get(id)!.ended = true
      return open.filter((_, i) => !ok[i])
    },
    /** A withdrawn request: already ended. */
    ended(id: string) {
      const h = held.get(id)
      if (h) h.ended = true
    },
  }
}

export type HeldSessions = ReturnType<typeof heldSessions>
