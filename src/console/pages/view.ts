// Pieces of the session pages: a session's facts (agent-written text always as inert text), who
// may still approve, and the decision form.
import { whyNotApprover, whyNotDenier } from '../../approvals/policy-now.js'
import type { Runtime } from '../../runtime.js'
import type { PublicSession, SessionRecord } from '../../domain/index.js'
import { actionView } from '../../action-view.js'
import { cleanText } from '../../visible.js'
import { html, type Html } from '../html.js'
import { csrfField, when, type Viewer } from '../layout.js'

export const STATUSES = ['pending_approval', 'approved', 'active', 'denied', 'expired', 'revoked'] as const

export const statusBadge = (status: string): Html =>
  html`<span class="status status-${status}">${status.replace('_', ' ')}</span>`

export interface Outlook {
  /** Who may still approve (eligible now, not approved yet). */
  remaining: string[]
  /** Why the viewer may not approve, or null when they may. */
  whyNotApprove: string | null
  mayDeny: boolean
}

/** The approval rules of the API, applied to the viewer and to everyone configured. */
export function outlook(rt: Runtime, rec: SessionRecord, viewer: string): Outlook {
  const approved = new Set(rec.approvals.map((a) => a.by))
  const remaining = rt.config.humans
    .filter((h) => !approved.has(h.id) && whyNotApprover(rt, rec, h.id) === null)
    .map((h) => h.id)
  const why = approved.has(viewer)
    ? `${viewer} already approved this request`
    : whyNotApprover(rt, rec, viewer)
  return { remaining, whyNotApprove: why, mayDeny: whyNotDenier(rt, rec, viewer) === null }
}

export function sessionFacts(s: PublicSession, o: Outlook | null): Html {
  const approvals =
    s.approvals.length === 0
      ? 'none yet'
      : html`<ul>
          ${s.approvals.map(
            (a) =>
              html`<li>${a.by} via ${a.via}, ${when(a.at)}${a.comment ? html`: “${a.comment}”` : ''}</li>`,
          )}
        </ul>`
  const pending = s.status === 'pending_approval'
  return html`<dl class="facts">
    <dt>Session</dt>
    <dd><code>${s.id}</code> ${statusBadge(s.status)}</dd>
    <dt>Agent</dt>
    <dd>${s.agent}${s.on_behalf_of ? html` on behalf of ${s.on_behalf_of}` : ''}</dd>
    <dt>Environment</dt>
    <dd>${s.environment}</dd>
    <dt>Class</dt>
    <dd>${s.operation_class}</dd>
    <dt>Provider</dt>
    <dd>${s.provider}</dd>
    <dt>Task</dt>
    <dd>
      <code>${s.task.id}</code
      >${s.task.description ? html` — <span class="agent-text">${cleanText(s.task.description)}</span>` : ''}
    </dd>
    <dt>Justification</dt>
    <dd>${s.justification ? html`<span class="agent-text">${cleanText(s.justification)}</span>` : '—'}</dd>
    ${
      s.action
        ? html`<dt>Gateway action</dt>
            <dd><pre class="agent-text">${actionView(s.action)}</pre></dd>`
        : ''
    }
    <dt>Approvals</dt>
    <dd>${s.approvals.length} of ${s.approvals_required}: ${approvals}</dd>
    ${
      pending && o
        ? html`<dt>May still approve</dt>
            <dd>${o.remaining.length > 0 ? o.remaining.join(', ') : 'nobody'}</dd>`
        : ''
    }
    ${
      s.denied_by
        ? html`<dt>Denied by</dt>
            <dd>${s.denied_by}</dd>`
        : ''
    }
    ${
      s.revoked_by
        ? html`<dt>Revoked by</dt>
            <dd>${s.revoked_by}, ${when(s.revoked_at)}</dd>`
        : ''
    }
    <dt>TTL</dt>
    <dd>${s.ttl_seconds} s</dd>
    <dt>Created</dt>
    <dd>${when(s.created_at)}</dd>
    <dt>${pending ? 'Decide by' : s.status === 'approved' ? 'Claim by' : 'Ends'}</dt>
    <dd>${when(s.expires_at)}</dd>
  </dl>`
}

/** The approve/deny form for a pending request, or why the viewer cannot decide it. */
export function decisionForm(s: PublicSession, o: Outlook, v: Viewer): Html {
  if (s.status !== 'pending_approval')
    return html`<p class="muted">This request is not waiting for a decision.</p>`
  const mayApprove = o.whyNotApprove === null
  if (!mayApprove && !o.mayDeny)
    return html`<p class="warning">You cannot decide this request: ${o.whyNotApprove}.</p>`
  return html`${mayApprove ? '' : html`<p class="warning">You cannot approve this request: ${o.whyNotApprove}. You may deny it.</p>`}
    <form class="stack" method="post" action="/console/sessions/${s.id}/decision">
      ${csrfField(v)}
      <label for="comment-${s.id}">Comment (optional, kept with your decision)</label>
      <textarea id="comment-${s.id}" name="comment" maxlength="500"></textarea>
      <div class="actions">
        ${mayApprove ? html`<button class="primary" type="submit" name="decision" value="approve">Approve</button>` : ''}
        <button class="danger" type="submit" name="decision" value="deny">Deny</button>
      </div>
    </form>`
}
