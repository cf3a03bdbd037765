// The gateway provider's config section: checked here, every problem with its path relative to
// the provider entry (load.ts prefixes `providers[i]`).
import { DURATION_HINT, parseDuration } from '../../src/config/duration.js'
import { isSecretRef, LITERAL_SECRET } from '../../src/config/secrets.js'
import { compileHttpRule, type HttpRule } from '../../src/gateway/classify-http.js'
import type { ValidateContext, Validated } from '../types.js'
import { isRecord, section, unknownKeys } from '../validate.js'

export interface GatewayEnvironment {
  /** Origin and base path without a trailing slash: `https://api.example.com/graphql/v2`. */
  upstream: string
  /** Secret reference to the upstream token (never the token). */
  credential: string
  /** Lower-case header name; `authorization` sends `Bearer <credential>`, any other the raw value. */
  header: string
  /** GraphQL argument name -> the values this environment may touch. */
  arguments: Record<string, string[]>
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

const TOP_KEYS = [
  'upstream',
  'graphql',
  'timeout',
  'header',
  'forward_headers',
  'body_limit_bytes',
  'environments',
  'operation_classes',
]
const ENV_KEYS = ['upstream', 'credential', 'header', 'arguments']
const CLASS_KEYS = ['http', 'queries', 'mutations', 'subscriptions']
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
  'x-forwarded-for',
  'x-forwarded-host',
])
// Words in mutation names that destroy (or mint blanket tokens); such a pattern needs two approvals.
const DESTROYING = ['Delete', 'delete', 'Remove', 'remove', 'TokenCreate']
const FIELD_PATTERN = /^[A-Za-z_*][A-Za-z0-9_*]{0,127}$/
const GRAPHQL_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$/
const DESTRUCTIVE_ONLY = 'only a class marked destructive: true may allow this (it needs two approvals)'

/** Whether a mutation pattern may reach a destroying mutation (by its name) in a class without two approvals. */
export const mutationMayDestroy = (pattern: string): boolean =>
  pattern === '*' || DESTROYING.some((w) => pattern.includes(w))

/** `https://host[:port][/base]`: http(s) only, no user info, query or fragment; the base path without a trailing slash. */
export function parseUpstream(v: unknown): string | null {
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

export function validateGateway(
  raw: Record<string, unknown>,
  ctx: ValidateContext,
): Validated<GatewayConfig> {
  const problems: { path: string; message: string }[] = []
  const report = (path: string, message: string) => problems.push({ path, message })
  unknownKeys(raw, TOP_KEYS, '', 'a gateway provider', report)

  const upstream = raw['upstream'] === undefined ? null : parseUpstream(raw['upstream'])
  if (raw['upstream'] !== undefined && upstream === null)
    report('upstream', 'expected an http:// or https:// URL without user info, query or fragment')
  const graphql = raw['graphql'] ?? false
  if (typeof graphql !== 'boolean') report('graphql', 'expected true or false')
  let timeoutMs = 30_000
  if (raw['timeout'] !== undefined) {
    try {
      timeoutMs = parseDuration(String(raw['timeout']))
    } catch {
      report('timeout', DURATION_HINT)
    }
  }
  const bodyLimit = raw['body_limit_bytes'] ?? 1_048_576
  if (!Number.isInteger(bodyLimit) || (bodyLimit as number) < 1 || (bodyLimit as number) > 100 * 1_048_576)
    report('body_limit_bytes', 'expected an integer from 1 to 104857600')
  const defaultHeader = headerName(raw['header'], 'header', report) ?? 'authorization'

  const forwardHeaders: string[] = []
  const fh = raw['forward_headers'] ?? []
  if (!Array.isArray(fh)) report('forward_headers', 'expected a list of header names')
  else
    fh.forEach((h, i) => {
      const at = `forward_headers[${i}]`
      const name = typeof h === 'string' ? h.toLowerCase() : null
      if (name === null || !HEADER_NAME.test(name)) report(at, 'expected a header name')
      else if (NEVER_FORWARDED.has(name))
        report(at, `${name} is never forwarded (it carries identity or framing)`)
      else forwardHeaders.push(name)
    })

  const environments: Record<string, GatewayEnvironment> = {}
  const envs = raw['environments']
  if (!isRecord(envs) || Object.keys(envs).length === 0)
    report('environments', 'required: a mapping of environment names to {credential}')
  else
    for (const [name, value] of Object.entries(envs)) {
      const at = `environments.${name}`
      if (ctx.environments.length > 0 && !ctx.environments.includes(name))
        report(at, `unknown environment '${name}'`)
      const env = environment(
        value,
        at,
        upstream,
        raw['upstream'] !== undefined,
        defaultHeader,
        graphql === true,
        report,
      )
      if (env) environments[name] = env
    }

  const classes: Record<string, GatewayClass> = {}
  const rawClasses = raw['operation_classes']
  if (!isRecord(rawClasses) || Object.keys(rawClasses).length === 0)
    report('operation_classes', 'required: a mapping of operation class names to their rules')
  else
    for (const [name, value] of Object.entries(rawClasses)) {
      const at = `operation_classes.${name}`
      if (ctx.operationClasses.length > 0 && !ctx.operationClasses.includes(name))
        report(at, `unknown operation class '${name}'`)
      const c = classRules(value, at, graphql === true, ctx.destructiveClasses.includes(name), report)
      if (c) classes[name] = c
    }

  if (problems.length > 0) return { ok: false, problems }
  const scopedArguments = new Set(Object.values(environments).flatMap((e) => Object.keys(e.arguments)))
  return {
    ok: true,
    config: {
      graphql: graphql as boolean,
      timeoutMs,
      bodyLimitBytes: bodyLimit as number,
      forwardHeaders,
      environments,
      classes,
      scopedArguments,
    },
  }
}

function headerName(v: unknown, at: string, report: (p: string, m: string) => void): string | null {
  if (v === undefined) return null
  const name = typeof v === 'string' ? v.toLowerCase() : ''
  if (!HEADER_NAME.test(name) || name === 'host' || name === 'cookie') {
    report(at, 'expected a header name (default authorization)')
    return null
  }
  return name
}

function environment(
  raw: unknown,
  at: string,
  defaultUpstream: string | null,
  /** The provider names an upstream (reported there when it is invalid). */
  upstreamGiven: boolean,
  defaultHeader: string,
  graphql: boolean,
  report: (path: string, message: string) => void,
): GatewayEnvironment | null {
  const s = section(raw, at, '{credential}', ENV_KEYS, 'a gateway environment', report)
  if (!s) return null
  const { bad, value } = s
  const credential = value['credential']
  if (credential === undefined) bad(`${at}.credential`, 'required (a secret reference to the upstream token)')
  else if (typeof credential !== 'string' || !isSecretRef(credential)) bad(`${at}.credential`, LITERAL_SECRET)
  let upstream = defaultUpstream
  if (value['upstream'] !== undefined) {
    upstream = parseUpstream(value['upstream'])
    if (upstream === null)
      bad(`${at}.upstream`, 'expected an http:// or https:// URL without user info, query or fragment')
  } else if (upstream === null && !upstreamGiven)
    bad(`${at}.upstream`, 'required here (the provider has no upstream)')
  const header = headerName(value['header'], `${at}.header`, bad) ?? defaultHeader
  const args: Record<string, string[]> = {}
  const rawArgs = value['arguments']
  if (rawArgs !== undefined) {
    if (!graphql) bad(`${at}.arguments`, 'arguments scope GraphQL calls: set graphql: true')
    else if (!isRecord(rawArgs))
      bad(`${at}.arguments`, 'expected a mapping of argument names to lists of values')
    else
      for (const [name, list] of Object.entries(rawArgs)) {
        const p = `${at}.arguments.${name}`
        if (!GRAPHQL_NAME.test(name)) bad(p, 'expected a GraphQL argument name')
        else if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x.length > 0))
          bad(p, 'expected a list of non-empty strings (the values this environment may touch)')
        else args[name] = list as string[]
      }
  }
  if (!s.ok()) return null
  return { upstream: upstream as string, credential: credential as string, header, arguments: args }
}

function classRules(
  raw: unknown,
  at: string,
  graphql: boolean,
  destructive: boolean,
  report: (path: string, message: string) => void,
): GatewayClass | null {
  const shape = graphql ? '{queries, mutations, subscriptions}' : '{http}'
  const s = section(raw, at, shape, CLASS_KEYS, 'a gateway operation class', report)
  if (!s) return null
  const { bad, value } = s
  const list = (key: string): string[] => {
    const v = value[key]
    if (v === undefined) return []
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      bad(`${at}.${key}`, 'expected a list of strings')
      return []
    }
    return v as string[]
  }
  if (!graphql) {
    for (const key of ['queries', 'mutations', 'subscriptions'])
      if (value[key] !== undefined) bad(`${at}.${key}`, `${key} need graphql: true; use http rules`)
    const rules: HttpRule[] = []
    list('http').forEach((text, i) => {
      const p = `${at}.http[${i}]`
      const rule = compileHttpRule(text)
      if (typeof rule === 'string') bad(p, rule)
      else if (!destructive && (rule.method === 'DELETE' || rule.method === '*')) bad(p, DESTRUCTIVE_ONLY)
      else rules.push(rule)
    })
    if (value['http'] === undefined) bad(`${at}.http`, 'required: a list like ["GET /**"]')
    return s.ok() ? { http: rules, queries: [], mutations: [], subscriptions: [] } : null
  }
  if (value['http'] !== undefined)
    bad(`${at}.http`, 'http rules need graphql: false; list queries and mutations')
  const fields = (key: 'queries' | 'mutations' | 'subscriptions') => {
    const l = list(key)
    l.forEach((f, i) => {
      const p = `${at}.${key}[${i}]`
      if (!FIELD_PATTERN.test(f)) bad(p, 'expected a root field name, * matching any run of characters')
      else if (key === 'mutations' && !destructive && mutationMayDestroy(f)) bad(p, DESTRUCTIVE_ONLY)
    })
    return l
  }
  const c = {
    http: null,
    queries: fields('queries'),
    mutations: fields('mutations'),
    subscriptions: fields('subscriptions'),
  }
  return s.ok() ? c : null
}
