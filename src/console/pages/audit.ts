// The audit log, newest first, filtered by session or agent and paged by stream position, and the
// chain check (GET /v1/audit/verify's, run on request: it reads the whole retained log).
import { err } from '../../errors.js'
import { Type } from '@sinclair/typebox'
import type { AuditEvent } from '../../audit/chain.js'
import { readAuditEvent, verifyAuditLog } from '../../audit/read.js'
import type { VerifyResult } from '../../audit/verify.js'
import { iso } from '../../clock.js'
import type { AuditStore } from '../../store/types.js'
import { Csrf, Page, plural, rowsTable } from '../page-parts.js'
import { seeOther, sendPage, viewerOf, type ConsoleApp, type ConsoleContext } from '../context.js'
import { html, query } from '../html.js'
import { csrfField, when } from '../layout.js'

const PAGE_SIZE = 50
const MAX_U64 = 2n ** 64n - 1n

/** One page of events older than `before` (a stream position), and the position to go on from. */
export async function auditPage(
  store: AuditStore,
  q: { session_id?: string; agent?: string; before?: string; limit: number },
): Promise<{ events: AuditEvent[]; next: string | null }> {
  const out: AuditEvent[] = []
  // A stream position is two 64-bit numbers: one past them is no position at all (and Redis
  // would refuse it as if it were down).
  if (q.before !== undefined && q.before.split('-').some((n) => BigInt(n) > MAX_U64))
    throw err.invalid('before is not a position in the audit log: follow the page’s Older link')
  let after = q.before
  for (let scanned = 0; scanned < 50_000;) {
    const rows = await store.readAudit({ afterPos: after, count: 500, reverse: true })
    if (rows.length === 0) return { events: out, next: null }
    scanned += rows.length
    for (const row of rows) {
      after = row.pos
      const e = readAuditEvent(row.json)
      if (!e) continue
      if (q.session_id !== undefined && e.session_id !== q.session_id) continue
      if (q.agent !== undefined && e.actor !== q.agent && e.details['agent'] !== q.agent) continue
      out.push(e)
      if (out.length === q.limit) return { events: out, next: row.pos }
    }
  }
  return { events: out, next: after ?? null }
}

export function registerAudit(app: ConsoleApp, ctx: ConsoleContext) {
  const { broker } = ctx
  const roles = ['operator'] as const
  /** The last chain check this process ran, shown until the next. */
  let lastCheck: { at: string; by: string; result: VerifyResult } | null = null

  const checkView = () =>
    lastCheck === null
      ? html`<p>Not checked since this broker started.</p>`
      : html`<p class="${lastCheck.result.ok ? 'notice' : 'error'}" id="chain-result">
            ${
              lastCheck.result.ok
                ? `Intact: ${lastCheck.result.events} events in ${lastCheck.result.chains.length} chain${lastCheck.result.chains.length === 1 ? '' : 's'} verify.`
                : `Broken: ${lastCheck.result.problems.length} problem${lastCheck.result.problems.length === 1 ? '' : 's'} found.`
            }
            Checked by ${lastCheck.by}, ${when(lastCheck.at)}.
          </p>
          ${
            lastCheck.result.problems.length > 0
              ? html`<ul>
                  ${lastCheck.result.problems.slice(0, 50).map((p) => html`<li>${p}</li>`)}
                </ul>`
              : ''
          }`

  app.get(
    '/audit',
    {
      config: { console: { roles } },
      schema: {
        hide: true,
        querystring: Type.Object(
          {
            session_id: Type.Optional(Type.String({ maxLength: 64 })),
            agent: Type.Optional(Type.String({ maxLength: 64 })),
            before: Type.Optional(Type.String({ maxLength: 40, pattern: '^[0-9]{1,20}-[0-9]{1,20}$' })),
          },
          { additionalProperties: false },
        ),
        response: Page,
      },
    },
    async (req, reply) => {
      const q = {
        session_id: req.query.session_id || undefined,
        agent: req.query.agent || undefined,
        before: req.query.before,
      }
      const { events, next } = await auditPage(broker.store, { ...q, limit: PAGE_SIZE })
      const rows = events.map(
        (e) =>
          html`<tr>
            <td data-label="At">${when(e.at)}</td>
            <td data-label="Event">${e.type}</td>
            <td data-label="Actor">${e.actor}</td>
            <td data-label="Session">
              ${e.session_id ? html`<a href="/console/audit${query({ session_id: e.session_id })}"><code>${e.session_id}</code></a>` : '—'}
            </td>
            <td data-label="Details"><pre>${JSON.stringify(e.details, null, 1)}</pre></td>
            <td data-label="Chain"><code>${e.chain}</code> #${e.seq}</td>
          </tr>`,
      )
      return sendPage(
        ctx,
        req,
        reply,
        { title: 'Audit log', section: 'audit' },
        html`<section aria-labelledby="chain-h">
            <h2 id="chain-h">Chain check</h2>
            ${checkView()}
            <form method="post" action="/console/audit/verify">
              ${csrfField(viewerOf(req))}
              <button type="submit">Check the chains now</button>
            </form>
          </section>
          <h2>Events</h2>
          <form class="filters" method="get" action="/console/audit" aria-label="Filter events">
            <label for="a-session"
              >Session id<input id="a-session" name="session_id" maxlength="64" value="${q.session_id ?? ''}"
            /></label>
            <label for="a-agent"
              >Agent<input id="a-agent" name="agent" maxlength="64" value="${q.agent ?? ''}"
            /></label>
            <button type="submit">Filter</button>
          </form>
          ${rowsTable({
            label: 'Audit events',
            caption: `${plural(events.length, 'event')}, newest first`,
            columns: ['At', 'Event', 'Actor', 'Session', 'Details', 'Chain'],
            rows,
          })}
          <p class="pager">
            ${q.before ? html`<a href="/console/audit${query({ session_id: q.session_id, agent: q.agent })}">Newest</a>` : ''}${
              next
                ? html`<a
                    href="/console/audit${query({ session_id: q.session_id, agent: q.agent, before: next })}"
                    >Older events</a
                  >`
                : ''
            }
          </p>`,
      )
    },
  )

  // A GET changes nothing: a link here shows the last check; the check runs from the page's form.
  app.get('/audit/verify', { config: { console: { roles } }, schema: { hide: true } }, async (_req, reply) =>
    seeOther(reply, '/console/audit'),
  )

  app.post(
    '/audit/verify',
    {
      config: { console: { roles }, forms: true },
      bodyLimit: 4096,
      schema: {
        hide: true,
        body: Type.Object({ csrf: Csrf }, { additionalProperties: false }),
        response: Page,
      },
    },
    async (req, reply) => {
      const result = await verifyAuditLog(broker.store)
      lastCheck = { at: iso(broker.clock.now()), by: viewerOf(req).id, result }
      return sendPage(
        ctx,
        req,
        reply,
        { title: 'Audit chain check', section: 'audit' },
        html`${checkView()}
          <p><a href="/console/audit">Back to the audit log</a></p>`,
      )
    },
  )
}
