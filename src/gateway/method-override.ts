// Method overrides: a `_method` parameter that frameworks read as the request's real method. Rails
// (Rack::MethodOverride) and Laravel (Symfony) turn a POST into a DELETE from a form body field,
// Laravel from a JSON body's key too, and Symfony and express's method-override from the query
// string. An HTTP rule judges the method the request is sent with, so a class allowed to POST
// could delete: such a parameter is refused. (Its header forms are never forwarded: forward.ts.)

const FORM = 'application/x-www-form-urlencoded'
const MULTIPART_ANY = 'multipart/'

/**
 * How the frameworks may read a body, judged as the laxest of them does: Rack ends the media type
 * at `,` as well as `;` (PHP at a space too) and reads a POST with none as a form, and any
 * `multipart/*` for its parts; Laravel reads JSON when `/json` or `+json` is anywhere in the header.
 */
function readings(contentType: string): { form: boolean; multipart: boolean; json: boolean } {
  const type = (contentType.trim().split(/[;,\s]/)[0] ?? '').toLowerCase()
  return {
    form: type === FORM || type === '',
    multipart: type.startsWith(MULTIPART_ANY),
    json: /[/+]json/i.test(contentType),
  }
}

/** Whether a request's body must be read whole to look for an override: a POST form or JSON body. */
export function mayOverride(method: string, contentType: string): boolean {
  if (method !== 'POST') return false
  const r = readings(contentType)
  return r.form || r.multipart || r.json
}

/**
 * Whether a parameter name reaches a framework as `_method`. PHP drops leading spaces, reads
 * `_method[x]` as (an array named) `_method`, and makes spaces, dots and a lone `[` into `_`:
 * `.method` reaches Laravel as `_method`. Compared in any case, to be safe.
 */
function isOverride(name: string): boolean {
  let n = name.replace(/^ +/, '')
  const bracket = n.indexOf('[')
  if (bracket > 0 && n.indexOf(']', bracket) > 0) n = n.slice(0, bracket)
  return n.replace(/[ .[]/g, '_').toLowerCase() === '_method'
}

const formNames = (text: string): string[] => [...new URLSearchParams(text).keys()]

/** The field names of a multipart body's parts (`name=` or RFC 2231's `name*=`). */
function multipartNames(body: Buffer): string[] {
  const names: string[] = []
  const text = body.toString('latin1')
  const header = /content-disposition:[^\r\n]*/gi
  for (const h of text.matchAll(header))
    for (const m of h[0].matchAll(/;\s*name(\*?)\s*=\s*(?:"([^"]*)"|([^;\s]*))/gi)) {
      const raw = m[2] ?? m[3] ?? ''
      let name = raw
      if (m[1] === '*') {
        try {
          name = decodeURIComponent(raw.replace(/^[^']*'[^']*'/, ''))
        } catch {
          name = raw
        }
      }
      names.push(name)
    }
  return names
}

function jsonKeys(body: Buffer): string[] {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.keys(v) : []
  } catch {
    // Not JSON: the upstream reads no parameter from it either.
    return []
  }
}

/** Why the request is refused when it carries a method override, else null. */
export function methodOverride(
  method: string,
  query: string,
  contentType: string,
  body: Buffer | null,
): string | null {
  const refusal = (where: string) =>
    `a _method parameter in the ${where} can change the method the upstream runs; send that method itself`
  if (query !== '' && formNames(query.slice(1)).some(isOverride)) return refusal('query string')
  if (body === null || method !== 'POST') return null
  // Every reading one framework or another may give the body.
  const r = readings(contentType)
  const names = [
    ...(r.form ? formNames(body.toString('utf8')) : []),
    ...(r.multipart ? multipartNames(body) : []),
    ...(r.json ? jsonKeys(body) : []),
  ]
  return names.some(isOverride) ? refusal('body') : null
}
