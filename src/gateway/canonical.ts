// The canonical form of a gateway call, so an approved action matches the request that carries it
// out whatever the JSON key order or the GraphQL whitespace, and nothing else: a changed variable,
// an extra field or another path is another call. Compared as a SHA-256 of the canonical text.
import { createHash } from 'node:crypto'
import { parse, print } from 'graphql'
import { containPath } from './path.js'
import { ExactNumber, parseStrictJson } from './strict-json.js'
import { namedCharsets } from './charset.js'

export interface Action {
  method: string
  path: string
  body?: unknown
}

/** JSON with object keys sorted at every depth; a number read as text stays that text. */
export function canonicalJson(v: unknown): string {
  if (v instanceof ExactNumber) return v.text
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}

function graphqlElement(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v
  const o = v as Record<string, unknown>
  if (typeof o['query'] !== 'string') return v
  let query: string
  try {
    query = print(parse(o['query'], { noLocation: true }))
  } catch {
    return v
  }
  const variables = o['variables'] ?? {}
  return { ...o, query, variables, operationName: o['operationName'] ?? null }
}

/** A body that is not JSON, kept as its text. */
class TextBody {
  constructor(readonly text: string) {}
}

/**
 * The body as a JSON value when it is JSON (GraphQL documents printed), else a TextBody; null when
 * empty. Read strictly (strict-json.ts): a body with a repeated key counts as text, so it matches
 * only the very same text, and numbers keep the digits they were sent with.
 */
function bodyValue(body: unknown, graphql: boolean): unknown {
  if (body === undefined || body === null || body === '') return null
  let v: unknown = body
  if (typeof body === 'string') {
    const read = parseStrictJson(body, { exact: true })
    if (typeof read === 'string') return new TextBody(body)
    v = read.value
  }
  if (!graphql) return v
  return Array.isArray(v) ? v.map(graphqlElement) : graphqlElement(v)
}

/**
 * A text body is digested as [method, path, null, text]: as [method, path, {text}] it would match
 * the JSON body {"text": ...}, another request to the upstream. JSON bodies keep their digest.
 */
function canonicalCall(method: string, path: string, body: unknown, graphql: boolean): unknown[] {
  const call = [method.toUpperCase(), path === '' ? '/' : path]
  const v = bodyValue(body, graphql)
  return v instanceof TextBody ? [...call, null, v.text] : [...call, v]
}

const digest = (method: string, path: string, body: unknown, graphql: boolean): string =>
  createHash('sha256')
    .update(canonicalJson(canonicalCall(method, path, body, graphql)))
    .digest('hex')

/** The action's canonical digest, or why the action is not a request the gateway could carry. */
export function actionDigest(a: Action, graphql: boolean): string | { invalid: string } {
  const c = containPath(a.path, '')
  if (typeof c === 'string') return { invalid: `action.path: ${c}` }
  return digest(a.method, c.path + c.query, a.body, graphql)
}

/**
 * A charset the Content-Type names other than UTF-8, or null. Bodies are checked and compared as
 * UTF-8; an upstream may decode them in the charset named (body-parser takes any utf-*, UTF-7 too).
 */
export function otherCharset(contentType: string): string | null {
  const other = namedCharsets(contentType).find((c) => !/^utf-?8$/i.test(c))
  return other === undefined ? null : other.slice(0, 40)
}

/** Whether a body is JSON as an approved action's body is compared (strictly, UTF-8). */
export function isJsonBody(body: Buffer): boolean {
  try {
    return typeof parseStrictJson(utf8.decode(body), { exact: true }) !== 'string'
  } catch {
    return false
  }
}

/** UTF-8 that throws rather than read malformed bytes as U+FFFD, and keeps a byte order mark. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The digest of a request as it arrived (path relative to the gateway URL, query string kept). */
export function requestDigest(
  method: string,
  relativePath: string,
  body: Buffer | null,
  graphql: boolean,
): string {
  if (body === null || body.length === 0) return digest(method, relativePath, null, graphql)
  let text: string
  try {
    text = utf8.decode(body)
  } catch {
    // Malformed UTF-8: read as U+FFFD it would match an action holding U+FFFD, while the upstream
    // may read those bytes as something else (Latin-1, say). No action holds raw bytes.
    return createHash('sha256')
      .update(canonicalJson([method, relativePath, null, null, body.toString('base64')]))
      .digest('hex')
  }
  return digest(method, relativePath, text, graphql)
}
