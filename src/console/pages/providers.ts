// Each provider's health and last error, as GET /v1/providers reports them (never a secret).
import { Type } from '@sinclair/typebox'
import { providerHealth } from '../../provider-health.js'
import { sendPage, type ConsoleApp, type ConsoleContext } from '../context.js'
import { plural, rowsTable } from '../page-parts.js'
import { html } from '../html.js'

export function registerProviders(app: ConsoleApp, ctx: ConsoleContext) {
  app.get(
    '/providers',
    {
      config: { console: { roles: ['operator'] } },
      schema: { hide: true, response: { 200: Type.String({ description: 'An HTML page' }) } },
    },
    async (req, reply) => {
      const list = await providerHealth(ctx.broker.runtime())
      const rows = list.map(
        (p) =>
          html`<tr>
            <td data-label="Provider">${p.name}</td>
            <td data-label="Type">${p.type}</td>
            <td data-label="Audience">${p.audience}</td>
            <td data-label="Health">
              <span class="status status-${p.ok ? 'ok' : 'failing'}">${p.ok ? 'healthy' : 'failing'}</span>
            </td>
            <td data-label="Last error">${p.error ?? '—'}</td>
          </tr>`,
      )
      return sendPage(
        ctx,
        req,
        reply,
        { title: 'Providers', section: 'providers' },
        rowsTable({
          label: 'Providers',
          caption: plural(list.length, 'provider'),
          columns: ['Provider', 'Type', 'Audience', 'Health', 'Last error'],
          rows,
        }),
      )
    },
  )
}
