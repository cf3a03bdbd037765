// A GraphQL request as it arrives over HTTP (GraphQL over HTTP): a POST's JSON body (one request,
// or a batch) or `application/graphql` text, or a GET's URL parameters; read from one place only
// and strictly (no repeated keys, no stored queries), so what is classified is all the upstream
// can run. Classification of the documents is classify-graphql.ts.
import { otherCharset } from './canonical.js'
import { parseStrictJson } from './strict-json.js'

export interface GraphqlRequest {
  query: string
  variables: Record<string, unknown>
  operationName: string | null
}

const MAX_BATCH = 100
/** What a GraphQL GET may carry in its URL (GraphQL over HTTP). */
const GET_PARAMS = new Set(['query', 'variables', 'operationName'])

/** A value as a refusal message quotes it: at most 80 characters. */
export const short = (v: unknown): string => {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v))
  return s.length > 80 ? `${s.slice(0, 77)}...` : s
}

/**
 * The GraphQL requests in a body: a JSON object, or an array (a batch), or for GET the query
 * parameters. A string when the body is not a GraphQL request.
 */
export function readGraphqlBody(
  method: string,
  contentType: string,
  body: Buffer | null,
  params: URLSearchParams,
): { requests: GraphqlRequest[]; batch: boolean } | string {
  // A request is read from one place only, the body or the URL: servers differ on which wins when
  // both hold one (some let the URL override the body), so what is checked must be all there is.
  if (method === 'GET' || method === 'HEAD') {
    if (body !== null && body.length > 0)
      return `a GraphQL ${method} carries its request in the URL only: send it without a body`
    for (const name of new Set(params.keys())) {
      if (!GET_PARAMS.has(name))
        return `a GraphQL ${method} takes only query, variables and operationName in its URL, not ${short(name)}`
      if (params.getAll(name).length > 1) return `the URL gives ${name} more than once`
    }
    const r = requestOf({
      query: params.get('query'),
      variables: params.has('variables')
        ? parseJson(params.get('variables') as string, 'variables')
        : undefined,
      operationName: params.get('operationName'),
    })
    return typeof r === 'string' ? r : { requests: [r], batch: false }
  }
  if (method !== 'POST') return `GraphQL is sent with POST or GET, not ${method}`
  if (params.size > 0)
    return 'a GraphQL POST carries its request in the body only: send it without a query string'
  // Read as UTF-8, which another charset could make another document upstream.
  if (otherCharset(contentType) !== null) return 'send GraphQL in UTF-8: the body names another charset'
  const text = body ? body.toString('utf8') : ''
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? ''
  if (type === 'application/graphql') {
    return { requests: [{ query: text, variables: {}, operationName: null }], batch: false }
  }
  if (type !== 'application/json' && !type.endsWith('+json'))
    return 'send GraphQL as application/json ({"query", "variables", "operationName"})'
  const json = parseJson(text, 'the body')
  if (json instanceof Invalid) return json.message
  if (Array.isArray(json)) {
    if (json.length === 0 || json.length > MAX_BATCH) return `a batch holds 1 to ${MAX_BATCH} requests`
    const out: GraphqlRequest[] = []
    for (const el of json) {
      const r = requestOf(el)
      if (typeof r === 'string') return r
      out.push(r)
    }
    return { requests: out, batch: true }
  }
  const r = requestOf(json)
  return typeof r === 'string' ? r : { requests: [r], batch: false }
}

/** Why a JSON text was refused (strict-json.ts: no repeated keys, no inexact integers). */
class Invalid {
  constructor(readonly message: string) {}
}
function parseJson(text: string, what: string): unknown {
  const r = parseStrictJson(text, { what })
  return typeof r === 'string' ? new Invalid(r) : r.value
}

/** The fields of a GraphQL request over POST; `extensions` is passed on, but never a stored query. */
const POST_FIELDS = new Set(['query', 'variables', 'operationName', 'extensions'])

function requestOf(v: unknown): GraphqlRequest | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'a GraphQL request is a JSON object'
  const o = v as Record<string, unknown>
  if (typeof o['query'] !== 'string' || o['query'].length === 0)
    return 'the GraphQL request has no query (persisted queries are not supported)'
  // A server that looks operations up by a stored id or hash could run one other than the text
  // checked here: such fields are refused, not passed on.
  const other = Object.keys(o).find((k) => !POST_FIELDS.has(k))
  if (other !== undefined)
    return `a GraphQL request takes query, variables, operationName and extensions, not ${short(other)}`
  const ext = o['extensions']
  if (ext !== undefined && ext !== null && (typeof ext !== 'object' || Array.isArray(ext)))
    return 'extensions must be a JSON object'
  if (ext && 'persistedQuery' in ext)
    return 'persisted queries are not supported: send the query text without extensions.persistedQuery'
  const vars = o['variables']
  if (vars instanceof Invalid) return vars.message
  if (vars !== undefined && vars !== null && (typeof vars !== 'object' || Array.isArray(vars)))
    return 'variables must be a JSON object'
  const name = o['operationName']
  if (name !== undefined && name !== null && typeof name !== 'string') return 'operationName must be a string'
  return {
    query: o['query'],
    variables: (vars ?? {}) as Record<string, unknown>,
    operationName: (name ?? null) as string | null,
  }
}
