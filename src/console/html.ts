// Escaped HTML templates: every interpolated value is text unless it is already Html (built by
// these templates). Agent-written text (task, justification, action) therefore always arrives as
// inert text, whatever it contains; attribute values are always quoted, so escaping covers them.
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

export type Part = Html | string | number | boolean | null | undefined | readonly Part[]

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
}

export const escapeHtml = (s: string): string => s.replace(/[&<>"'`]/g, (c) => ESCAPES[c] as string)

function render(v: Part): string {
  if (v === null || v === undefined || v === false || v === true) return ''
  if (v instanceof Html) return v.value
  if (Array.isArray(v)) return (v as readonly Part[]).map(render).join('')
  return escapeHtml(String(v))
}

/** A template whose values are escaped (false, null and undefined render nothing). */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0] ?? ''
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '')
  })
  return new Html(out)
}

/** A query string from the non-empty values (for links that keep a page's filters). */
export function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params))
    if (v !== null && v !== undefined && v !== '') q.set(k, String(v))
  const s = q.toString()
  return s ? `?${s}` : ''
}
