// A gateway action as approvers read it, the same in Slack, the console and the CLI: the call as the
// upstream takes it. Each place fits this text to itself (Slack cuts it, the CLI puts it on a line).
import { parse, print } from 'graphql'
import type { SessionAction } from './domain/index.js'
import { showHidden } from './visible.js'

/** The fields of a GraphQL request; a body with any other field is shown as the JSON it is. */
const GRAPHQL_FIELDS = new Set(['query', 'variables', 'operationName'])

/**
 * The body as a GraphQL request, when that is all it is. Anything else (a REST body that happens
 * to have a `query`, an `extensions` field) is shown whole: the grant allows the body as sent, so
 * approvers must see every field of it.
 */
function graphqlRequest(
  b: unknown,
): { query: string; variables: unknown; operationName: string | null } | null {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return null
  const o = b as Record<string, unknown>
  const { query, variables, operationName } = o
  if (typeof query !== 'string' || Object.keys(o).some((k) => !GRAPHQL_FIELDS.has(k))) return null
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return null
  return { query, variables: variables ?? {}, operationName: operationName ?? null }
}

/**
 * The query as a GraphQL server reads it, without comments: a comment ends at a carriage return
 * too, so as sent, a field after one could read as part of it. As sent when it does not parse.
 */
function readable(query: string): string {
  try {
    return print(parse(query, { noLocation: true }))
  } catch {
    return query
  }
}

const RUN = /(?:%[0-9a-f]{2})+/gi

const tryDecode = (escapes: string): string | null => {
  try {
    return decodeURIComponent(escapes)
  } catch {
    return null
  }
}

/** A run of escapes decoded as UTF-8; a byte that starts no character stays as sent. */
function decodeRun(run: string): string {
  const bytes = run.match(/%../g) ?? []
  let out = ''
  let i = 0
  while (i < bytes.length) {
    // A character is one to four bytes: take the longest that decodes.
    let n = Math.min(4, bytes.length - i)
    let text: string | null = null
    while (n > 0 && (text = tryDecode(bytes.slice(i, i + n).join(''))) === null) n--
    out += text ?? bytes[i]
    i += Math.max(n, 1)
  }
  return out
}

/**
 * The path as the upstream decodes it, or null when it has no escapes: `/%70rod` is `/prod` there.
 * Never throws: a malformed escape (`%zz`, a byte that is no UTF-8) stays as sent, and the rest is
 * still decoded, so one bad escape cannot keep the decoded path from being shown.
 */
function decodedPath(path: string): string | null {
  const decoded = path.replace(RUN, decodeRun)
  return decoded === path ? null : decoded
}

/** Tab and newline as escapes too: the call is one line, and a decoded `%0A` must not break it. */
const oneLine = (s: string): string =>
  showHidden(s).replace(/[\t\n]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

/**
 * The call an action makes: method and path (and the decoded path, when it differs), then a
 * GraphQL body's query as the server reads it, its variables and operation, or any other body as
 * JSON. Characters that hide or reorder text are shown as escapes, not taken out: what is shown is
 * then the call itself.
 */
export function actionView(action: SessionAction): string {
  const path = action.path || '/'
  const decoded = decodedPath(path)
  const call = `${action.method} ${oneLine(path)}${decoded === null ? '' : ` (decoded: ${oneLine(decoded)})`}`
  const b = action.body
  const gql = graphqlRequest(b)
  const body =
    b === undefined || b === null
      ? []
      : gql
        ? [
            readable(gql.query),
            `Variables: ${JSON.stringify(gql.variables, null, 2)}`,
            ...(gql.operationName ? [`Operation: ${gql.operationName}`] : []),
          ]
        : [typeof b === 'string' ? b : JSON.stringify(b, null, 2)]
  return showHidden([call, ...body].join('\n'))
}
