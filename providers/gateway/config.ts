// The gateway provider's config: what its section resolves to, and the checks its schema
// (schema.ts) cannot make: what needs graphql: true or false, destroying mutations and DELETE only
// for classes marked destructive, headers that are never forwarded. Paths are relative to the
// provider entry.
import type { Static } from '@sinclair/typebox'
import { compileHttpRule, type HttpRule } from './http-rule.js'
import { parseDuration } from '../../src/validation/duration.js'
import type { ValidateContext, Validated } from '../types.js'
import { validateSection, type CheckContext } from '../validate.js'
import { GatewaySchema, HEADER_HINT, UPSTREAM_HINT, type OperationClass } from './schema.js'

export interface GatewayEnvironment {
  /** Origin and base path without a trailing slash: `https://api.example.com/graphql/v2`. */
  upstream: string
  /** Secret reference to the upstream token (never the token). */
  credential: string
  /** Lower-case header name; `authorization` sends `Bearer <credential>`, any other the raw value. */
  header: string
  /** GraphQL argument name -> the values this environment may touch. */
  arguments: Record<string, string[]>
  /** Calls one session may send a minute (refused with 429 past it), or null: no limit. */
  callsPerMinute: number | null
}

export interface GatewayClass {
  /** HTTP rules (graphql: false), else null. */
  http: HttpRule[] | null
  queries: string[]
  mutations: string[]
  subscriptions: string[]
}

export interface GatewayConfig {
  graphql: boolean
  timeoutMs: number
  bodyLimitBytes: number
  /** Extra request headers passed on (lower case), besides content-type, accept and user-agent. */
  forwardHeaders: string[]
  environments: Record<string, GatewayEnvironment>
  classes: Record<string, GatewayClass>
  /** Every argument name any environment scopes: these are checked wherever they appear. */
  scopedArguments: Set<string>
}

/** Never forwarded whatever the config says: they carry identity, routing or framing. */
const NEVER_FORWARDED = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
  'accept-encoding',
  // A body is checked (and an action compared) as sent; an upstream that inflates it reads another.
  'content-encoding',
  // A byte range of an answer can hold a piece of an echoed credential too short to be redacted.
  'range',
  'if-range',
  'x-forwarded-for',
  'x-forwarded-host',
  // Frameworks that honour these run another method or path than the one the rules checked.
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-url',
  'x-rewrite-url',
])
// Words in mutation names that destroy (or mint blanket tokens); such a pattern needs two approvals.
const DESTROYING = ['Delete', 'delete', 'Remove', 'remove', 'TokenCreate']
const DESTRUCTIVE_ONLY = 'only a class marked destructive: true may allow this (it needs two approvals)'

/**
 * Whether a mutation pattern may reach a destroying mutation (by its name) in a class without two
 * approvals: it names a destroying word, or its last `*` can stand for the start of one that its
 * tail ends (`volume*` and `*e` reach `volumeDelete`, `*Create` reaches `apiTokenCreate`). A tail
 * that ends no such word (`*Update`) stays allowed.
 */
function mutationMayDestroy(pattern: string): boolean {
  if (DESTROYING.some((w) => pattern.includes(w))) return true
  const star = pattern.lastIndexOf('*')
  if (star < 0) return false
  const tail = pattern.slice(star + 1)
  return DESTROYING.some((w) => w.endsWith(tail))
}

/** `https://host[:port][/base]`: http(s) only, no user info, query or fragment; the base path without a trailing slash. */
function parseUpstream(v: unknown): string | null {
  if (typeof v !== 'string' || v.length > 2048) return null
  let u: URL
  try {
    u = new URL(v)
  } catch {
    return null
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null
  if (u.username || u.password || u.search || u.hash || v.includes('\\')) return null
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`
}

export const validateGateway = (
  raw: Record<string, unknown>,
  ctx: ValidateContext,
): Validated<GatewayConfig> => validateSection(GatewaySchema, checkGateway, raw, ctx)

/** A header name in lower case; host and cookie cannot carry the credential. */
function headerName(v: string | undefined, at: string, report: CheckContext['report']): string | null {
  if (v === undefined) return null
  const name = v.toLowerCase()
  if (name === 'host' || name === 'cookie') {
    report(at, HEADER_HINT)
    return null
  }
  return name
}

export function checkGateway(o: Static<typeof GatewaySchema>, ctx: CheckContext): GatewayConfig {
  const { report } = ctx
  const upstream = o.upstream === undefined ? null : parseUpstream(o.upstream)
  if (o.upstream !== undefined && upstream === null) report('upstream', UPSTREAM_HINT)
  const graphql = o.graphql ?? false
  let timeoutMs = 30_000
  if (o.timeout !== undefined) {
    try {
      timeoutMs = parseDuration(o.timeout)
    } catch (e) {
      report('timeout', (e as Error).message)
    }
  }
  const defaultHeader = headerName(o.header, 'header', report) ?? 'authorization'

  const forwardHeaders: string[] = []
  ;(o.forward_headers ?? []).forEach((h, i) => {
    const name = h.toLowerCase()
    if (NEVER_FORWARDED.has(name))
      report(
        `forward_headers[${i}]`,
        `${name} is never forwarded (it carries identity, routing or framing, or changes the method)`,
      )
    else forwardHeaders.push(name)
  })

  const environments: Record<string, GatewayEnvironment> = {}
  for (const [name, e] of Object.entries(o.environments)) {
    const at = `environments.${name}`
    let envUpstream = upstream
    if (e.upstream !== undefined) {
      envUpstream = parseUpstream(e.upstream)
      if (envUpstream === null) report(`${at}.upstream`, UPSTREAM_HINT)
    } else if (o.upstream === undefined)
      report(`${at}.upstream`, 'required here (the provider has no upstream)')
    if (e.arguments !== undefined && !graphql)
      report(`${at}.arguments`, 'arguments scope GraphQL calls: set graphql: true')
    environments[name] = {
      upstream: envUpstream ?? '',
      credential: e.credential,
      header: headerName(e.header, `${at}.header`, report) ?? defaultHeader,
      arguments: e.arguments ?? {},
      callsPerMinute: e.calls_per_minute ?? o.calls_per_minute ?? null,
    }
  }

  const classes: Record<string, GatewayClass> = {}
  for (const [name, c] of Object.entries(o.operation_classes))
    classes[name] = classRules(c, `operation_classes.${name}`, graphql, ctx.destructive(name), report)

  const scopedArguments = new Set(Object.values(environments).flatMap((e) => Object.keys(e.arguments)))
  return {
    graphql,
    timeoutMs,
    bodyLimitBytes: o.body_limit_bytes ?? 1_048_576,
    forwardHeaders,
    environments,
    classes,
    scopedArguments,
  }
}

function classRules(
  c: Static<typeof OperationClass>,
  at: string,
  graphql: boolean,
  destructive: boolean,
  report: CheckContext['report'],
): GatewayClass {
  if (!graphql) {
    for (const key of ['queries', 'mutations', 'subscriptions'] as const)
      if (c[key] !== undefined) report(`${at}.${key}`, `${key} need graphql: true; use http rules`)
    if (c.http === undefined) report(`${at}.http`, 'required: a list like ["GET /**"]')
    const rules: HttpRule[] = []
    ;(c.http ?? []).forEach((text, i) => {
      const rule = compileHttpRule(text)
      if (typeof rule === 'string') report(`${at}.http[${i}]`, rule)
      else if (!destructive && (rule.method === 'DELETE' || rule.method === '*'))
        report(`${at}.http[${i}]`, DESTRUCTIVE_ONLY)
      else rules.push(rule)
    })
    return { http: rules, queries: [], mutations: [], subscriptions: [] }
  }
  if (c.http !== undefined) report(`${at}.http`, 'http rules need graphql: false; list queries and mutations')
  if (!destructive)
    c.mutations?.forEach((f, i) => {
      if (mutationMayDestroy(f)) report(`${at}.mutations[${i}]`, DESTRUCTIVE_ONLY)
    })
  return {
    http: null,
    queries: c.queries ?? [],
    mutations: c.mutations ?? [],
    subscriptions: c.subscriptions ?? [],
  }
}
