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

/**
 * The call an action makes: method and path, then a GraphQL body's query as the server reads it,
 * its variables and operation, or any other body as JSON. Characters that hide or reorder text are
 * shown as escapes, not taken out: what is shown is then the call itself.
 */
export function actionView(action: SessionAction): string {
  const call = `${action.method} ${action.path || '/'}`
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
