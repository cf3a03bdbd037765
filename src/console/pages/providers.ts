// Each provider's health and last error, as GET /v1/providers reports them (never a secret).
import { Type } from '@sinclair/typebox'
import { providerHealth } from '../../provider-health.js'
import { sendPage, type ConsoleApp, type ConsoleContext } from '../context.js'
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
        html`<div class="table-wrap" role="region" aria-label="Providers" tabindex="0">
          <table class="rows">
            <caption>
              ${list.length} provider${list.length === 1 ? '' : 's'}
            </caption>
            <thead>
              <tr>
                <th scope="col">Provider</th>
                <th scope="col">Type</th>
                <th scope="col">Audience</th>
                <th scope="col">Health</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              ${rows}
            </tbody>
          </table>
        </div>`,
      )
    },
  )
}
