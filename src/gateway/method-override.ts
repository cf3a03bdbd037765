// Method overrides: a `_method` parameter that frameworks read as the request's real method. Rails
// (Rack::MethodOverride) and Laravel (Symfony) turn a POST into a DELETE from a form body field,
// Laravel from a JSON body's key too, and Symfony and express's method-override from the query
// string; a parser set to read any type finds either in a body of any type. An HTTP rule judges
// the method the request is sent with, so a class allowed to POST could delete: such a parameter
// is refused. (Its header forms are never forwarded: forward.ts.)
import { namedCharsets } from './charset.js'

const MULTIPART_ANY = 'multipart/'

/**
 * Whether a body may be read for its parts, judged as the laxest reader does: Rack ends the media
 * type at `,` as well as `;` (PHP at a space too) and takes any `multipart/*`. No parser looks for
 * parts (at the boundary this header names) under another type, so there a body has none.
 */
function isMultipart(contentType: string): boolean {
  const type = (contentType.trim().split(/[;,\s]/)[0] ?? '').toLowerCase()
  return type.startsWith(MULTIPART_ANY)
}

/**
 * Whether a request's body must be read whole to look for an override: any POST's (Rack, Symfony,
 * Spring and express's method-override override no other method). Parsers may be set to read a
 * form or JSON whatever the type (body-parser's `type: () => true`), Rack reads a form with no
 * type, Laravel JSON wherever the header holds `/json`: the type rules nothing out.
 */
export const mayOverride = (method: string): boolean => method === 'POST'

/**
 * Whether a parameter name reaches a framework as `_method`. PHP drops leading spaces, reads
 * `_method[x]` as (an array named) `_method`, and makes spaces, dots and a lone `[` into `_`:
 * `.method` reaches Laravel as `_method`; a NUL ends it. Compared in any case, to be safe.
 */
function isOverride(name: string): boolean {
  // PHP reads a name as a C string: it ends at the first NUL (`_method%00x` is `_method`).
  let n = (name.split('\0', 1)[0] as string).replace(/^ +/, '')
  const bracket = n.indexOf('[')
  if (bracket > 0 && n.indexOf(']', bracket) > 0) n = n.slice(0, bracket)
  return n.replace(/[ .[]/g, '_').toLowerCase() === '_method'
}

const formNames = (text: string): string[] => [...new URLSearchParams(text).keys()]

/**
 * The names a multipart body's parts may be read under, found as laxly as any parser finds them,
 * anywhere in the body: PHP joins a header's folded and colon-less lines and takes `name` as any
 * parameter (the first too), in double or single quotes, and splits parameters at `;` before it
 * reads quotes; Rack's pattern spans lines, takes the last `name=`, strips backslash escapes, and
 * names a part by its Content-ID when it has no name. A file's content naming `_method` is
 * refused too: failing closed on it costs little.
 */
function multipartNames(body: Buffer): string[] {
  const text = body.toString('latin1')
  const names: string[] = []
  for (const m of text.matchAll(/name(\*?)\s*=\s*("(?:\\.|[^"\\])*"?|'[^']*'?|[^\s;]*)/gi)) {
    const raw = m[2] as string
    if (m[1] === '*') names.push(decode2231(raw))
    const quote = raw[0]
    if (quote === '"' || quote === "'") {
      const inner = raw.slice(1, raw.endsWith(quote) && raw.length > 1 ? -1 : undefined)
      for (const v of [inner, inner.replace(/\\(.)/g, '$1')]) names.push(v, v.split(';', 1)[0] as string)
    } else names.push(raw, /^[^\s()<>,;:\\"/[\]?=]*/.exec(raw)?.[0] ?? '') // Rack's token ends earlier
  }
  for (const m of text.matchAll(/content-id\s*:\s*([^\r\n]*)/gi)) names.push((m[1] as string).trim())
  // Tomcat and commons-fileupload decode RFC 2047 encoded words in parameter values.
  return names.flatMap((n) => (n.includes('=?') ? [n, decodeWords(n)] : [n]))
}

/** Bytes in a charset (a label TextDecoder knows), else read as Latin-1. */
function decodeIn(charset: string, bytes: Buffer): string {
  try {
    return new TextDecoder(charset || 'utf-8').decode(bytes)
  } catch {
    return bytes.toString('latin1')
  }
}

/** An RFC 2231 value (`charset'lang'%XX...`) in its charset, as busboy and Tomcat decode it. */
function decode2231(raw: string): string {
  const m = /^([^']*)'[^']*'(.*)$/.exec(raw)
  const pct = m ? (m[2] as string) : raw
  const bytes = pct.replace(/%([0-9a-f]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16)))
  return decodeIn(m?.[1] ?? '', Buffer.from(bytes, 'latin1'))
}

/** A value with its RFC 2047 encoded words (`=?charset?B|Q?text?=`) decoded. */
function decodeWords(v: string): string {
  return v.replace(
    /=\?([^?]*)\?([bq])\?([^?]*)\?=/gi,
    (_m, charset: string, coding: string, text: string) => {
      const bytes =
        coding.toLowerCase() === 'b'
          ? Buffer.from(text, 'base64')
          : Buffer.from(
              text
                .replace(/_/g, ' ')
                .replace(/=([0-9a-f]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))),
              'latin1',
            )
      return decodeIn(charset.split('*')[0] as string, bytes)
    },
  )
}

/** Charsets whose bytes 0x00-0x7f are ASCII, so a name is found in them as in UTF-8. */
const ASCII_BASED = /^(utf-?8|us-ascii|ascii|iso-?8859-\d+|latin-?1|windows-125\d|cp125\d)$/i

/**
 * A charset named in the Content-Type that is not ASCII-based, or null. Tomcat (Spring's
 * HiddenHttpMethodFilter) decodes form names in it, body-parser JSON in any utf-* (UTF-7 too):
 * bytes that are no `_method` in UTF-8 are one there.
 */
function foreignCharset(contentType: string): string | null {
  return namedCharsets(contentType).find((c) => !ASCII_BASED.test(c)) ?? null
}

function jsonKeys(text: string): string[] {
  try {
    const v = JSON.parse(text) as unknown
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
  if (body === null || !mayOverride(method)) return null
  const charset = foreignCharset(contentType)
  if (charset)
    return `a _method parameter in the body cannot be looked for in charset ${charset.slice(0, 40)}; send the body as UTF-8`
  // Every reading one framework or another may give the body, whatever its declared type, after a
  // byte order mark as body-parser drops it.
  const text = body.toString('utf8').replace(/^\uFEFF/, '')
  const names = [
    ...formNames(text),
    ...jsonKeys(text),
    ...(isMultipart(contentType) ? multipartNames(body) : []),
  ]
  return names.some(isOverride) ? refusal('body') : null
}
