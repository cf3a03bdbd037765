// People: everyone in the config with their roles, and (operators) signing one of them out of the
// console in every browser at once (a lost laptop, someone leaving). The same function as
// DELETE /v1/console-sessions/{human}, recorded `via: console`.
import { Type } from '@sinclair/typebox'
import { endConsoleSessionsOf } from '../../routes/console-sessions.js'
import { Name } from '../../schemas/common.js'
import {
  noticeText,
  principalOf,
  seeOther,
  sendPage,
  viewerOf,
  type ConsoleApp,
  type ConsoleContext,
} from '../context.js'
import { html } from '../html.js'
import { csrfField } from '../layout.js'
import { Csrf, noticePage, Page, plural, rowsTable } from '../page-parts.js'

export function registerPeople(app: ConsoleApp, ctx: ConsoleContext) {
  const { broker } = ctx
  const roles = ['operator'] as const

  app.get('/people', noticePage(roles), async (req, reply) => {
    const v = viewerOf(req)
    const humans = broker.runtime().config.humans
    const rows = humans.map(
      (h) =>
        html`<tr>
          <td data-label="Person">${h.id}</td>
          <td data-label="Roles">${h.roles.join(', ')}</td>
          <td data-label="Signs in with">
            ${
              [h.email && `email ${h.email}`, h.oidcSubject && `subject ${h.oidcSubject}`]
                .filter(Boolean)
                .join(', ') || '—'
            }
          </td>
          <td data-label="Action">
            <form
              class="inline"
              method="post"
              action="/console/people/${h.id}/sign-out"
              data-confirm="Sign ${h.id} out of the console in every browser?"
            >
              ${csrfField(v)}<button class="danger" type="submit" aria-label="Sign ${h.id} out everywhere">
                Sign out everywhere
              </button>
            </form>
          </td>
        </tr>`,
    )
    return sendPage(
      ctx,
      req,
      reply,
      { title: 'People', section: 'people', notice: noticeText(req.query.done, req.query.n) },
      html`<p class="muted">
          Signing someone out ends their console sessions on every broker at once. Their key or single sign-on
          still signs them in again: remove them from the config (or replace the key) to keep them out.
        </p>
        ${rowsTable({
          label: 'People',
          caption: plural(humans.length, 'person'),
          columns: ['Person', 'Roles', 'Signs in with', 'Action'],
          rows,
        })}`,
    )
  })

  app.post(
    '/people/:human/sign-out',
    {
      config: { console: { roles }, forms: true },
      bodyLimit: 4096,
      schema: {
        hide: true,
        params: Type.Object({ human: Name() }, { additionalProperties: false }),
        body: Type.Object({ csrf: Csrf }, { additionalProperties: false }),
        response: Page,
      },
    },
    async (req, reply) => {
      const p = principalOf(req)
      const n = await endConsoleSessionsOf({ broker, log: req.log }, p.id, req.params.human, 'console')
      return seeOther(reply, `/console/people?done=signedout&n=${n}`)
    },
  )
}
