// One request against one session's environment and class: allowed (with the names the audit
// records), or refused with a message naming what was refused and which class would allow it.
import type { GatewayConfig } from '../../providers/gateway/config.js'
import { ruleAllows } from '../../providers/gateway/http-rule.js'
import {
  checkArguments,
  fieldAllowed,
  pickOperation,
  type Outcome,
  type RootField,
} from './classify-graphql.js'
import { readGraphqlBody } from './graphql-request.js'
import { createDocumentCache, type DocumentCache, type ParsedDocument } from './documents.js'
import { methodOverride } from './method-override.js'
import type { Contained } from './path.js'

export interface GatewayRequest {
  method: string
  contentType: string
  /** The whole body (GraphQL is always buffered); null when none was read. */
  body: Buffer | null
  contained: Contained
}

export interface Target {
  provider: string
  environment: string
  operationClass: string
}

const denied = (refused: string, message: string): Outcome => ({ ok: false, status: 403, message, refused })
const invalid = (message: string): Outcome => ({ ok: false, status: 400, message, refused: 'request' })

/** "(it needs destructive)" or "(no class allows it)". */
function needs(cfg: GatewayConfig, t: Target, allows: (cls: string) => boolean): string {
  const other = Object.keys(cfg.classes).find((c) => c !== t.operationClass && allows(c))
  return other ? `it needs ${other}` : 'no class allows it'
}

/** Whether a class's HTTP rules allow `method` on the contained path's segments. */
export const httpAllows = (cfg: GatewayConfig, cls: string, method: string, segments: string[]): boolean =>
  (cfg.classes[cls]?.http ?? []).some((r) => ruleAllows(r, method, segments))

function checkHttp(cfg: GatewayConfig, t: Target, req: GatewayRequest): Outcome {
  const { method, contained: c } = req
  const route = `${method} /${c.segments.join('/')}`
  const allows = (cls: string) => httpAllows(cfg, cls, method, c.segments)
  if (allows(t.operationClass)) {
    const override = methodOverride(method, c.query, req.contentType, req.body)
    return override === null
      ? { ok: true, operations: [], fields: [] }
      : { ok: false, status: 400, message: override, refused: '_method' }
  }
  return denied(
    route,
    `${route} is not allowed for ${t.operationClass} on ${t.provider} (${needs(cfg, t, allows)})`,
  )
}

/** The documents of every GraphQL gateway in this process. */
const sharedDocuments = createDocumentCache()

export function checkGraphql(
  cfg: GatewayConfig,
  t: Target,
  req: GatewayRequest,
  documents: DocumentCache = sharedDocuments,
): Outcome {
  if (req.contained.path !== '')
    return denied(
      `path /${req.contained.segments.join('/')}`,
      `${t.provider} forwards GraphQL to its upstream URL only, not to a path below it`,
    )
  // Rack 2 (Rails, graphql-ruby) splits a query string at ';' too: a parameter hidden in one read
  // here (inside a # comment in `query`) would be another parameter there.
  if (req.contained.query.includes(';'))
    return invalid(
      'a GraphQL URL may not hold a raw ";", which some servers split parameters at: write it as %3B',
    )
  // Classic ASP.NET reads %u000a as a line break; URLSearchParams keeps `%u000a` as text.
  if (/%(?![0-9a-f]{2})/i.test(req.contained.query))
    return invalid('a GraphQL URL may hold % only as %XX (two hex digits): servers read other escapes apart')
  const read = readGraphqlBody(
    req.method,
    req.contentType,
    req.body,
    new URLSearchParams(req.contained.query),
  )
  if (typeof read === 'string') return { ok: false, status: 400, message: read, refused: 'request' }
  const lists = cfg.classes[t.operationClass]
  const env = cfg.environments[t.environment]
  if (!lists || !env)
    return denied('request', `${t.provider} has no rules for ${t.operationClass} in ${t.environment}`)
  const operations: string[] = []
  const fields: RootField[] = []
  // Every element of a batch is checked before anything is sent: one refusal refuses the whole.
  for (const r of read.requests) {
    const parsed = documents.get(r.query)
    const doc = typeof parsed === 'string' ? parsed : pickOperation(parsed.doc, r.operationName)
    if (typeof doc === 'string') return { ok: false, status: 400, message: doc, refused: 'request' }
    const ops = (parsed as ParsedDocument).roots
    if (typeof ops === 'string') return { ok: false, status: 400, message: ops, refused: 'request' }
    for (const op of ops.operations) {
      if (req.method !== 'POST' && op.operation !== 'query')
        return {
          ok: false,
          status: 400,
          message: `a ${op.operation} must be sent with POST, not GET`,
          refused: op.operation,
        }
      operations.push(op.name?.value ?? '(anonymous)')
    }
    for (const f of ops.fields) {
      if (fieldAllowed(lists, f)) continue
      const allows = (cls: string) => {
        const l = cfg.classes[cls]
        return l !== undefined && fieldAllowed(l, f)
      }
      const what = f.name.startsWith('__') ? f.name : `${f.type} ${f.name}`
      return denied(
        f.name,
        `${what} is not allowed for ${t.operationClass} on ${t.provider} (${needs(cfg, t, allows)})`,
      )
    }
    for (const f of ops.fields) fields.push(f)
    const arg = checkArguments(doc, r.variables, { scoped: cfg.scopedArguments, allowed: env.arguments })
    if (arg)
      return denied(
        `argument ${arg.name}`,
        `${arg.name} ${arg.value} is outside ${t.environment} on ${t.provider} (allowed: ${(env.arguments[arg.name] ?? []).join(', ') || 'none'})`,
      )
  }
  return { ok: true, operations, fields }
}

export const checkRequest = (cfg: GatewayConfig, t: Target, req: GatewayRequest): Outcome =>
  cfg.graphql ? checkGraphql(cfg, t, req) : checkHttp(cfg, t, req)

/** Methods that only read (RFC 9110's safe methods; TRACE, which echoes, is treated as a change). */
const READS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Whether an allowed call may change the upstream: any method but a safe one, or a GraphQL document
 * with a mutation or subscription field. Such a call is audited before it is sent.
 */
export const mayChange = (cfg: GatewayConfig, method: string, fields: readonly RootField[]): boolean =>
  cfg.graphql ? fields.some((f) => f.type !== 'query') : !READS.has(method)
