// Sessions: the API's list filters, revoking one session, and bulk revocation after a preview
// that says how many live sessions the filter hits. Revocations go through the session service as
// DELETE /v1/sessions/{id} and POST /v1/sessions/revoke do, recorded `via: console`.
import { Type, type Static } from '@sinclair/typebox'
import { actingVia } from '../../audit/via.js'
import { err } from '../../errors.js'
import { ListQuery, SessionId } from '../../schemas/session.js'
import { toPublic, type SessionRecord } from '../../domain/index.js'
import { matchesFilter, type SessionFilter } from '../../sessions/reading.js'
import {
  noticeText,
  principalOf,
  seeOther,
  sendPage,
  viewerOf,
  type ConsoleApp,
  type ConsoleContext,
} from '../context.js'
import { Csrf, Notice, Opt, Page, plural, rowsTable } from '../page-parts.js'
import { html, query, type Html } from '../html.js'
import { csrfField, when, type Viewer } from '../layout.js'
import { STATUSES, statusBadge } from './view.js'

const NAME = '[A-Za-z0-9._-]{1,64}'
const TASK = '[A-Za-z0-9._:/-]{1,128}'
const BulkFields = {
  agent: Opt(NAME, 64),
  environment: Opt(NAME, 64),
  provider: Opt(NAME, 64),
  operation_class: Opt(NAME, 64),
  task_id: Opt(TASK, 128),
}
const BulkQuery = Type.Object(BulkFields, { additionalProperties: false })
type Bulk = Static<typeof BulkQuery>

/** The filter a bulk form names (empty fields dropped); at least one, as the API requires. */
function bulkFilter(b: Bulk): SessionFilter {
  const f: SessionFilter = {}
  for (const k of ['agent', 'environment', 'provider', 'operation_class', 'task_id'] as const)
    if (b[k]) f[k] = b[k]
  if (Object.keys(f).length === 0)
    throw err.invalid('name at least one of agent, environment, provider, operation_class, task_id')
  return f
}

const select = (
  name: string,
  label: string,
  options: readonly string[],
  value: string | undefined,
  any = 'any',
): Html =>
  html`<label for="f-${name}"
    >${label}<select id="f-${name}" name="${name}">
      <option value="">${any}</option>
      ${options.map((o) => html`<option value="${o}" ${o === value ? html` selected` : ''}>${o}</option>`)}
    </select></label
  >`

export function registerSessions(app: ConsoleApp, ctx: ConsoleContext) {
  const { broker } = ctx
  const names = () => {
    const c = broker.runtime().config
    return {
      agents: c.agents.map((a) => a.id),
      environments: c.environments.map((e) => e.name),
      providers: c.providers.map((p) => p.name),
      classes: c.operationClasses.map((o) => o.name),
    }
  }

  /** The sessions a bulk filter names, for the preview and the revoke alike. */
  const bulkMatch = (f: SessionFilter) => (r: SessionRecord) => matchesFilter(r, f, broker.clock.now())

  const revokeButton = (v: Viewer, id: string, agent: string): Html =>
    html`<form
      class="inline"
      method="post"
      action="/console/sessions/${id}/revoke"
      data-confirm="Revoke session ${id} of ${agent}? Its credentials stop working at once."
    >
      ${csrfField(v)}<input type="hidden" name="back" value="list" /><button
        class="danger"
        type="submit"
        aria-label="Revoke ${id}"
      >
        Revoke
      </button>
    </form>`

  app.get(
    '/sessions',
    {
      config: { console: { roles: ['approver', 'operator'] } },
      schema: {
        hide: true,
        querystring: Type.Object({ ...ListQuery.properties, ...Notice }, { additionalProperties: false }),
        response: Page,
      },
    },
    async (req, reply) => {
      const v = viewerOf(req)
      const { limit, cursor, done, n: count, ...filter } = req.query
      const page = await broker.sessions.list(filter, limit ?? 50, cursor ?? null)
      const n = names()
      const operator = v.roles.includes('operator')
      const rows = page.sessions.map(
        (s) =>
          html`<tr>
            <td data-label="Session">
              <a href="/console/sessions/${s.id}"><code>${s.id}</code></a>
            </td>
            <td data-label="Status">${statusBadge(s.status)}</td>
            <td data-label="Agent">${s.agent}</td>
            <td data-label="Environment">${s.environment}</td>
            <td data-label="Class">${s.operation_class}</td>
            <td data-label="Provider">${s.provider}</td>
            <td data-label="Task">
              <code>${s.task.id}</code
              >${s.task.description ? html` <span class="agent-text">${s.task.description}</span>` : ''}
            </td>
            <td data-label="Ends">${when(s.expires_at)}</td>
            ${operator ? html`<td data-label="Action">${['pending_approval', 'approved', 'active'].includes(s.status) ? revokeButton(v, s.id, s.agent) : ''}</td>` : ''}
          </tr>`,
      )
      const next = page.next_cursor
        ? `/console/sessions${query({ ...filter, limit, cursor: page.next_cursor })}`
        : null
      const bulk = operator
        ? html`<h2 id="bulk-h">Revoke many sessions</h2>
            <form class="filters" method="get" action="/console/sessions/revoke" aria-labelledby="bulk-h">
              ${select('agent', 'Agent', n.agents, undefined, '—')}${select('environment', 'Environment', n.environments, undefined, '—')}
              ${select('provider', 'Provider', n.providers, undefined, '—')}${select('operation_class', 'Class', n.classes, undefined, '—')}
              <label for="b-task">Task id<input id="b-task" name="task_id" maxlength="128" /></label>
              <button type="submit">Preview</button>
            </form>`
        : ''
      return sendPage(
        ctx,
        req,
        reply,
        { title: 'Sessions', section: 'sessions', live: '/console/events', notice: noticeText(done, count) },
        html`<form class="filters" method="get" action="/console/sessions" aria-label="Filter sessions">
            ${select('status', 'Status', STATUSES, filter.status)}${select('agent', 'Agent', n.agents, filter.agent)}
            ${select('environment', 'Environment', n.environments, filter.environment)}${select('provider', 'Provider', n.providers, filter.provider)}
            <button type="submit">Filter</button>
          </form>
          <div id="sessions-table" data-live-region>
            ${rowsTable({
              label: 'Sessions',
              caption: `${plural(page.sessions.length, 'session')}, newest first`,
              columns: [
                'Session',
                'Status',
                'Agent',
                'Environment',
                'Class',
                'Provider',
                'Task',
                'Ends',
                operator && 'Action',
              ],
              rows,
            })}
            ${next ? html`<p class="pager"><a href="${next}">Older sessions</a></p>` : ''}
          </div>
          ${bulk}`,
      )
    },
  )

  app.get(
    '/sessions/revoke',
    {
      config: { console: { roles: ['operator'] } },
      schema: { hide: true, querystring: BulkQuery, response: Page },
    },
    async (req, reply) => {
      const v = viewerOf(req)
      const f = bulkFilter(req.query)
      const now = broker.clock.now()
      // The scan the confirmed revoke makes: the preview lists exactly what it would end now.
      const hits = []
      for await (const recs of broker.sessions.liveMatching(bulkMatch(f)))
        for (const r of recs) hits.push(toPublic(r, now))
      const described = Object.entries(f)
        .map(([k, val]) => `${k} ${String(val)}`)
        .join(', ')
      const hidden = Object.entries(f).map(
        ([k, val]) => html`<input type="hidden" name="${k}" value="${String(val)}" />`,
      )
      return sendPage(
        ctx,
        req,
        reply,
        { title: 'Revoke many sessions', section: 'sessions' },
        html`<p id="bulk-count">
            <strong>${hits.length}</strong> live session${hits.length === 1 ? '' : 's'} match ${described}.
          </p>
          ${
            hits.length === 0
              ? html`<p>Nothing to revoke. <a href="/console/sessions">Back to sessions</a></p>`
              : html`<ul>
                    ${hits.slice(0, 100).map((s) => html`<li><code>${s.id}</code> ${s.agent}, ${s.operation_class} in ${s.environment} on ${s.provider} (${s.status.replace('_', ' ')})</li>`)}
                  </ul>
                  ${hits.length > 100 ? html`<p class="muted">and ${hits.length - 100} more.</p>` : ''}
                  <form
                    method="post"
                    action="/console/sessions/revoke"
                    data-confirm="Revoke ${hits.length} session${hits.length === 1 ? '' : 's'}? Their credentials stop working at once."
                  >
                    ${csrfField(v)}${hidden}
                    <div class="actions">
                      <button class="danger" type="submit">
                        Revoke ${hits.length} session${hits.length === 1 ? '' : 's'}
                      </button>
                      <a href="/console/sessions">Cancel</a>
                    </div>
                  </form>`
          }`,
      )
    },
  )

  app.post(
    '/sessions/revoke',
    {
      config: { console: { roles: ['operator'] }, forms: true },
      bodyLimit: 8192,
      schema: {
        hide: true,
        body: Type.Object({ csrf: Csrf, ...BulkFields }, { additionalProperties: false }),
        response: Page,
      },
    },
    async (req, reply) => {
      const { csrf: _csrf, ...fields } = req.body
      const f = bulkFilter(fields)
      const p = principalOf(req)
      // The same call and reason as POST /v1/sessions/revoke.
      const ids = await actingVia('console', p.id, () =>
        broker.sessions.revokeMatching(p.id, 'bulk revoke by an operator', bulkMatch(f)),
      )
      return seeOther(reply, `/console/sessions?done=bulk&n=${ids.length}`)
    },
  )

  app.post(
    '/sessions/:id/revoke',
    {
      config: { console: { roles: ['operator'] }, forms: true },
      bodyLimit: 4096,
      schema: {
        hide: true,
        params: SessionId,
        body: Type.Object(
          { csrf: Csrf, back: Type.Optional(Type.Union([Type.Literal('list'), Type.Literal('detail')])) },
          { additionalProperties: false },
        ),
        response: Page,
      },
    },
    async (req, reply) => {
      const p = principalOf(req)
      await actingVia('console', p.id, () => broker.sessions.end(p, req.params.id))
      return seeOther(
        reply,
        req.body.back === 'list'
          ? '/console/sessions?done=revoked'
          : `/console/sessions/${req.params.id}?done=revoked`,
      )
    },
  )
}
