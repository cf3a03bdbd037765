// Pending requests (the console's front page) and one session's page, with the approve/deny form.
// Decisions go through the approval service exactly as POST /v1/sessions/{id}/approvals does,
// recorded `via: console`.
import { Type } from '@sinclair/typebox'
import { ApprovalBody } from '../../schemas/approval.js'
import { SessionId } from '../../schemas/session.js'
import type { PublicSession, SessionRecord } from '../../domain/index.js'
import { DECIDING_ROLES } from '../../approvals/service.js'
import {
  noticeText,
  principalOf,
  seeOther,
  sendPage,
  viewerOf,
  type ConsoleApp,
  type ConsoleContext,
} from '../context.js'
import { Csrf, Notice, noticePage, Page } from '../page-parts.js'
import { html, query } from '../html.js'
import { csrfField } from '../layout.js'
import { decisionForm, outlook, sessionFacts } from './view.js'

const READERS = ['approver', 'operator'] as const
export function registerPending(app: ConsoleApp, ctx: ConsoleContext) {
  const { broker } = ctx

  app.get('/', noticePage(READERS), async (req, reply) => {
    const v = viewerOf(req)
    const rt = broker.runtime()
    const { sessions } = await broker.sessions.list({ status: 'pending_approval' }, 200, null)
    const recs = await broker.store.getSessions(sessions.map((s) => s.id))
    const cards = sessions.map((s, i) => {
      const rec = recs[i] as SessionRecord | null
      const o = rec ? outlook(rt, rec, v.id) : null
      return html`<article class="card" aria-labelledby="h-${s.id}">
        <h2 id="h-${s.id}">
          <a href="/console/sessions/${s.id}"
            >${s.agent}: ${s.operation_class} in ${s.environment} on ${s.provider}</a
          >
        </h2>
        ${sessionFacts(s, o)} ${o ? decisionForm(s, o, v) : ''}
      </article>`
    })
    return sendPage(
      ctx,
      req,
      reply,
      {
        title: 'Pending requests',
        section: 'pending',
        live: '/console/events',
        notice: noticeText(req.query.done, req.query.n),
      },
      html`<div id="pending-list" data-live-region>
        ${cards.length > 0 ? cards : html`<p>No request is waiting for approval.</p>`}
      </div>`,
    )
  })

  app.get(
    '/sessions/:id',
    {
      config: { console: { roles: READERS } },
      schema: {
        hide: true,
        params: SessionId,
        querystring: Type.Object(Notice, { additionalProperties: false }),
        response: Page,
      },
    },
    async (req, reply) => {
      const v = viewerOf(req)
      const s: PublicSession = await broker.sessions.get(principalOf(req), req.params.id)
      const rec = await broker.store.getSession(s.id)
      const o = rec ? outlook(broker.runtime(), rec, v.id) : null
      const live = s.status !== 'denied' && s.status !== 'expired' && s.status !== 'revoked'
      const revoke =
        live && v.roles.includes('operator')
          ? html`<form
              method="post"
              action="/console/sessions/${s.id}/revoke"
              data-confirm="Revoke session ${s.id} of ${s.agent}? Its credentials stop working at once."
            >
              ${csrfField(v)}<input type="hidden" name="back" value="detail" />
              <button class="danger" type="submit">Revoke this session</button>
            </form>`
          : ''
      return sendPage(
        ctx,
        req,
        reply,
        {
          title: `Session ${s.id}`,
          section: s.status === 'pending_approval' ? 'pending' : 'sessions',
          live: `/console/events${query({ session: s.id })}`,
          notice: noticeText(req.query.done, req.query.n),
        },
        html`<section id="session-facts" class="card" data-live-region aria-label="The session">
            ${sessionFacts(s, o)}
          </section>
          <section id="session-decision" data-live-region aria-label="Decision">
            ${o ? decisionForm(s, o, v) : ''}${revoke}
          </section>`,
      )
    },
  )

  app.post(
    '/sessions/:id/decision',
    {
      config: { console: { roles: DECIDING_ROLES }, forms: true },
      bodyLimit: 8192,
      schema: {
        hide: true,
        params: SessionId,
        body: Type.Object({ csrf: Csrf, ...ApprovalBody.properties }, { additionalProperties: false }),
        response: Page,
      },
    },
    async (req, reply) => {
      const { decision, comment } = req.body
      await broker.approvals.decide(
        principalOf(req),
        req.params.id,
        decision,
        comment?.trim() || null,
        'console',
      )
      return seeOther(
        reply,
        `/console/sessions/${req.params.id}?done=${decision === 'approve' ? 'approved' : 'denied'}`,
      )
    },
  )
}
