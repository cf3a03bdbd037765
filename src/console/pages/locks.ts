// Locks: the ones in force, creating one (with a reason and an optional expiry; it revokes what it
// matches) and lifting one. Both go through the lock service as POST and DELETE /v1/locks do,
// recorded `via: console`.
import { Type } from '@sinclair/typebox'
import { actingVia } from '../../audit/via.js'
import { iso } from '../../clock.js'
import { DURATION_HINT, DURATION_PATTERN, parseDuration } from '../../validation/duration.js'
import { err } from '../../errors.js'
import { LockId } from '../../schemas/lock.js'
import {
  noticeText,
  principalOf,
  seeOther,
  sendPage,
  viewerOf,
  type ConsoleApp,
  type ConsoleContext,
} from '../context.js'
import { Csrf, noticePage, Opt, Page, plural, rowsTable } from '../page-parts.js'
import { html } from '../html.js'
import { csrfField, when } from '../layout.js'

/** A lock's expiry, at most ten years out (empty: it never expires). */
const MAX_LOCK_TTL_MS = 3650 * 86_400_000

const LockForm = Type.Object(
  {
    csrf: Csrf,
    agent: Opt('[A-Za-z0-9._-]{1,64}', 64),
    environment: Opt('[A-Za-z0-9._-]{1,64}', 64),
    provider: Opt('[A-Za-z0-9._-]{1,64}', 64),
    task_id: Opt('[A-Za-z0-9._:/-]{1,128}', 128),
    reason: Type.String({ minLength: 1, maxLength: 500 }),
    expires_in: Type.Optional(
      Type.String({
        maxLength: 12,
        pattern: `^(${DURATION_PATTERN.slice(1, -1)})?$`,
        description: DURATION_HINT,
      }),
    ),
  },
  { additionalProperties: false },
)

export function registerLocks(app: ConsoleApp, ctx: ConsoleContext) {
  const { broker } = ctx
  const roles = ['operator'] as const

  app.get('/locks', noticePage(roles), async (req, reply) => {
    const v = viewerOf(req)
    const locks = await broker.locks.list()
    const c = broker.runtime().config
    const option = (xs: string[]) => [
      html`<option value="">any</option>`,
      xs.map((x) => html`<option value="${x}">${x}</option>`),
    ]
    const rows = locks.map(
      (l) =>
        html`<tr>
          <td data-label="Lock"><code>${l.id}</code></td>
          <td data-label="Matches">
            ${[
              l.agent && `agent ${l.agent}`,
              l.environment && `environment ${l.environment}`,
              l.provider && `provider ${l.provider}`,
              l.task_id && `task ${l.task_id}`,
            ]
              .filter(Boolean)
              .join(', ')}
          </td>
          <td data-label="Reason">${l.reason}</td>
          <td data-label="By">${l.created_by}, ${when(l.created_at)}</td>
          <td data-label="Until">${l.expires_at ? when(l.expires_at) : 'lifted'}</td>
          <td data-label="Action">
            <form
              class="inline"
              method="post"
              action="/console/locks/${l.id}/lift"
              data-confirm="Lift lock ${l.id}? What it blocks can be issued again."
            >
              ${csrfField(v)}<button type="submit" aria-label="Lift ${l.id}">Lift</button>
            </form>
          </td>
        </tr>`,
    )
    return sendPage(
      ctx,
      req,
      reply,
      { title: 'Locks', section: 'locks', notice: noticeText(req.query.done, req.query.n) },
      html`${rowsTable({
          label: 'Locks in force',
          caption: `${plural(locks.length, 'lock')} in force`,
          columns: ['Lock', 'Matches', 'Reason', 'Created', 'Until', 'Action'],
          rows,
        })}
        <h2 id="new-lock">New lock</h2>
        <p class="muted">
          Nothing matching a lock is issued or claimed while it holds, and its live sessions are revoked when
          it is created. Name at least one of agent, environment, provider or task.
        </p>
        <form
          class="stack"
          method="post"
          action="/console/locks"
          aria-labelledby="new-lock"
          data-confirm="Create this lock? It revokes every live session it matches."
        >
          ${csrfField(v)}
          <label for="l-agent"
            >Agent<select id="l-agent" name="agent">
              ${option(c.agents.map((a) => a.id))}
            </select></label
          >
          <label for="l-env"
            >Environment<select id="l-env" name="environment">
              ${option(c.environments.map((e) => e.name))}
            </select></label
          >
          <label for="l-provider"
            >Provider<select id="l-provider" name="provider">
              ${option(c.providers.map((p) => p.name))}
            </select></label
          >
          <label for="l-task">Task id<input id="l-task" name="task_id" maxlength="128" /></label>
          <label for="l-reason"
            >Reason (required)<input id="l-reason" name="reason" required maxlength="500"
          /></label>
          <label for="l-exp"
            >Expires after (like 30m, 4h, 2d; empty: until lifted)<input
              id="l-exp"
              name="expires_in"
              maxlength="12"
          /></label>
          <div class="actions"><button class="danger" type="submit">Create lock</button></div>
        </form>`,
    )
  })

  app.post(
    '/locks',
    {
      config: { console: { roles }, forms: true },
      bodyLimit: 8192,
      schema: { hide: true, body: LockForm, response: Page },
    },
    async (req, reply) => {
      const b = req.body
      const p = principalOf(req)
      let ttl = 0
      try {
        if (b.expires_in) ttl = parseDuration(b.expires_in)
      } catch (e) {
        throw err.invalid(`expires after: ${(e as Error).message}`)
      }
      if (ttl > MAX_LOCK_TTL_MS)
        throw err.invalid('expires after: at most 3650d; leave it empty for a lock that never expires')
      const body = {
        ...(b.agent && { agent: b.agent }),
        ...(b.environment && { environment: b.environment }),
        ...(b.provider && { provider: b.provider }),
        ...(b.task_id && { task_id: b.task_id }),
        reason: b.reason,
        ...(ttl > 0 && { expires_at: iso(broker.clock.now() + ttl) }),
      }
      const r = await actingVia('console', p.id, () => broker.locks.create(p.id, body))
      return seeOther(reply, `/console/locks?done=locked&n=${r.revoked_sessions.length}`)
    },
  )

  app.post(
    '/locks/:id/lift',
    {
      config: { console: { roles }, forms: true },
      bodyLimit: 4096,
      schema: {
        hide: true,
        params: LockId,
        body: Type.Object({ csrf: Csrf }, { additionalProperties: false }),
        response: Page,
      },
    },
    async (req, reply) => {
      const p = principalOf(req)
      await actingVia('console', p.id, () => broker.locks.remove(p.id, req.params.id))
      return seeOther(reply, '/console/locks?done=lifted')
    },
  )
}
