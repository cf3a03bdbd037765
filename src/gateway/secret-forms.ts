// The forms a secret takes when a program passes it on: as it is, inside a JSON string,
// URL-encoded (percent-encoding, or a form's `+` for a space), and base64 (standard and URL-safe
// alphabets). The gateway redacts each of them from the upstream's answers, and the MCP server from
// a command's output, both matching an escape's hex digits in either case (`%2f`, `%2F`).

/** An escape whose hex digits an encoder may write in either case: `%2f`/`%2F`, `\u003c`/`\u003C`. */
const ESCAPE = /%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}/

/** Whether a form holds an escape, and so is to be matched with hex digits in either case. */
export const hasEscape = (form: string): boolean => ESCAPE.test(form)

/**
 * The letters a-f upper-cased, all of them (the same length, so a match's place in a folded copy
 * is its place in the original): what is compared when a form holds an escape.
 */
export const foldHex = (s: string): string => s.replace(/[a-f]+/g, (m) => m.toUpperCase())

/** Encoded forms shorter than this are too likely to occur by chance to be replaced. */
export const MIN_FORM = 8

/**
 * The runs of base64 characters that encode `value` whatever its byte offset in a longer input:
 * for each offset modulo 3, the characters that depend on the value's bytes alone. So
 * `base64("user:" + token)` and `base64("Bearer " + token)` are caught as well as `base64(token)`.
 * The one or two characters at either end of such a run that mix the value's bits with its
 * neighbours' are not part of the form.
 */
export function base64Forms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8')
  const out: string[] = []
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64')
    const inner = b64.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6))
    out.push(inner, inner.replaceAll('+', '-').replaceAll('/', '_'))
  }
  return out
}

/**
 * The value as UTF-16 writes it, little-endian then big-endian: each byte as the character of that
 * code (its latin1 reading), so that an answer in UTF-16 that names no charset and has no byte
 * order mark, which the gateway cannot refuse for its charset, is searched as bytes all the same.
 * The latin1 reading is also how UTF-8 reads UTF-16 of ASCII (characters and NULs), as a command's
 * output is read.
 */
export function utf16Forms(value: string): [le: string, be: string] {
  const le = Buffer.from(value, 'utf16le')
  return [le.toString('latin1'), Buffer.from(le).swap16().toString('latin1')]
}

/** A lone surrogate as U+FFFD, as UTF-8 writes it (encodeURIComponent throws on one instead). */
const wellFormed = (s: string) =>
  s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')

/** RFC 3986 strictly: `!'()*` percent-encoded too, as Python's `quote` and Go's escapes write them. */
const strict = (s: string) => s.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/**
 * As it is, percent-encoded (a path or query component; by JavaScript's `encodeURIComponent` and
 * strictly) and form-encoded (`+` for a space; as browsers write it, and as Go's `QueryEscape` and
 * Python's `quote_plus` do). Written with upper-case hex digits; redaction matches either case.
 */
export function urlForms(value: string): string[] {
  const component = encodeURIComponent(wellFormed(value))
  const form = new URLSearchParams({ v: value }).toString().slice(2)
  const encoded = [component, strict(component), form, strict(component).replaceAll('%20', '+')]
  return [value, ...encoded]
}

/**
 * How the value reads inside a JSON string: as JavaScript writes it, with `\/` for a slash (PHP's
 * default), and with `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026` (Go's default).
 */
export function jsonForms(value: string): string[] {
  const json = JSON.stringify(value).slice(1, -1)
  const go = json.replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`)
  return [json, json.replaceAll('/', '\\/'), go]
}

/**
 * Every form of an upstream credential to look for in an answer, without repeats, longest first
 * (a form that holds another is replaced whole). The credential itself is always there, however
 * short; an encoded form only from MIN_FORM characters.
 */
export function credentialForms(credential: string): string[] {
  if (credential === '') return []
  const encoded = [...jsonForms(credential), ...urlForms(credential), ...base64Forms(credential)]
  const forms = new Set([credential, ...encoded.filter((f) => f.length >= MIN_FORM)])
  return [...forms].sort((a, b) => b.length - a.length)
}
