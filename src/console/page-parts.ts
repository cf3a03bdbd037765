// Pieces the console's pages share: the schemas of an HTML page and of form fields, and the
// table every list is shown in.
import { Type } from '@sinclair/typebox'
import type { RouteRole } from '../auth/principal.js'
import { html, type Html, type Part } from './html.js'

/** The response schema of a page. */
export const Page = { 200: Type.String({ description: 'An HTML page' }) }

/** What a page shows after a form was sent there: `?done=<what>&n=<how many>`. */
export const Notice = {
  done: Type.Optional(Type.String({ maxLength: 16, pattern: '^[a-z]+$' })),
  n: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
}

/** The route options of a page with no other query: who may see it, and its notice. */
export const noticePage = (roles: readonly RouteRole[]) => ({
  config: { console: { roles } },
  schema: { hide: true, querystring: Type.Object(Notice, { additionalProperties: false }), response: Page },
})

/** A form's CSRF token field. */
export const Csrf = Type.Optional(Type.String({ maxLength: 128 }))

/** Form fields arrive as strings, '' when left empty (then they name nothing). */
export const Opt = (pattern: string, maxLength: number) =>
  Type.Optional(Type.String({ maxLength, pattern: `^(${pattern})?$` }))

/** `n` and the noun, plural unless n is 1. */
export const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`

/** A list as a table in a scrollable region: a caption, one header per column, and the rows. */
export const rowsTable = (o: {
  label: string
  caption: Part
  columns: readonly (string | false)[]
  rows: Part
}): Html =>
  html`<div class="table-wrap" role="region" aria-label="${o.label}" tabindex="0">
    <table class="rows">
      <caption>
        ${o.caption}
      </caption>
      <thead>
        <tr>
          ${o.columns.map((c) => (c === false ? '' : html`<th scope="col">${c}</th>`))}
        </tr>
      </thead>
      <tbody>
        ${o.rows}
      </tbody>
    </table>
  </div>`
