// Config loading: YAML → schema check → semantic checks → the resolved AirlockConfig. Every problem
// is collected (not just the first) so `airlock config check` can list them all with their paths.
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { parseDocument } from 'yaml'
import { isProviderType, providerRegistry } from '../../providers/registry.js'
import { ConfigError } from '../errors.js'
import { matches } from '../policy/decide.js'
import { formatDuration, parseDuration } from './duration.js'
import {
  AgentSchema,
  ApprovalsSchema,
  AuditSchema,
  DEFAULTS,
  EnvironmentSchema,
  HumanSchema,
  OperationClassSchema,
  PolicySchema,
  ProviderEntrySchema,
  RateLimitsSchema,
  ResourceServerSchema,
  ServerSchema,
  SlackSchema,
  StoreSchema,
  TokensSchema,
  VaultSchema,
  isRecord,
  schemaProblems,
} from './schema.js'
import { parseMasterKey } from '../vault/crypto.js'
import { resolveRef, type ResolveOptions } from './secrets.js'
import { parseMetrics } from './metrics.js'
import { parseStore } from './store.js'
import { checkHumanIdentities, ConsoleSchema, parseConsole } from './console.js'
import type {
  DeferredSecret,
  VaultConfig,
  AgentConfig,
  AirlockConfig,
  HumanConfig,
  OperationClassConfig,
  PolicyRule,
  ProviderConfig,
  ResourceServerConfig,
  Role,
} from './types.js'

export interface ParseOptions extends ResolveOptions {
  /** `airlock dev`: no Redis URL means the in-memory store. */
  allowMissingStore?: boolean
}

/** Top-level lists the schema requires: when missing, references to them are not checked again. */
const REQUIRED_LISTS = new Set(['environments', 'operation_classes'])
const MAX_TOKEN_TTL_MS = 12 * 3_600_000
/** The shortest store.retention accepted. */
const MIN_STORE_RETENTION_MS = 3_600_000
const OIDC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
]

export async function loadConfigFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: { allowMissingStore?: boolean } = {},
): Promise<AirlockConfig> {
  const full = resolve(path)
  let text: string
  try {
    text = await readFile(full, 'utf8')
  } catch (e) {
    const code = e instanceof Error && 'code' in e ? String(e.code) : 'unknown error'
    throw new ConfigError([{ path: '', message: `cannot read config file ${full} (${code})` }])
  }
  return parseConfig(text, { baseDir: dirname(full), env, ...opts })
}

export function parseConfig(text: string, opts: ParseOptions): AirlockConfig {
  const doc = parseYaml(text)
  const problems = schemaProblems(doc)
  const config = build(isRecord(doc) ? doc : {}, opts, (path, message) => problems.push({ path, message }))
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}

function parseYaml(text: string): unknown {
  const doc = parseDocument(text)
  const first = doc.errors[0]
  if (first) {
    // Only the first line: YAML's pretty message goes on to quote the source, which may hold a secret.
    const line = first.linePos?.[0]
    const what = first.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'syntax error'
    const where = line ? ` at line ${line.line}, column ${line.col}` : ''
    throw new ConfigError([{ path: '', message: `YAML syntax error${where}: ${what}` }])
  }
  let value: unknown
  try {
    value = doc.toJS()
  } catch (e) {
    throw new ConfigError([
      { path: '', message: `YAML error: ${e instanceof Error ? e.message : 'cannot read'}` },
    ])
  }
  if (value === null || value === undefined)
    throw new ConfigError([{ path: '', message: 'the config is empty' }])
  return value
}

type Report = (path: string, message: string) => void

/** Semantic checks and the resolved shape. Parts that failed the schema are skipped (already reported). */
function build(raw: Record<string, unknown>, opts: ParseOptions, report: Report): AirlockConfig {
  /** The section if it passed the schema (absent counts as `{}`); null when it did not. */
  const section = <T extends TSchema>(schema: T, key: string): Static<T> | null => {
    const value = raw[key] ?? {}
    return Value.Check(schema, value) ? value : null
  }
  const rawList = (key: string): unknown[] => {
    const v = raw[key]
    return Array.isArray(v) ? v : []
  }
  /** Elements that passed the schema, with their index in the file. */
  const items = <T extends TSchema>(schema: T, key: string): [Static<T>, number][] =>
    rawList(key).flatMap((el, i): [Static<T>, number][] => (Value.Check(schema, el) ? [[el, i]] : []))
  // Names come from the raw file, so one bad field in an element does not also make every
  // reference to that element an "unknown" problem.
  const rawField = (key: string, field: string): (string | null)[] =>
    rawList(key).map((el) => (isRecord(el) && typeof el[field] === 'string' ? el[field] : null))
  /** Names to check references against; null when the section itself is broken (already reported). */
  const names = (key: string, field: string): Set<string> | null =>
    Array.isArray(raw[key]) || (raw[key] === undefined && !REQUIRED_LISTS.has(key))
      ? new Set(rawField(key, field).filter((n) => n !== null))
      : null

  const duration = (path: string, value: string): number => {
    try {
      return parseDuration(value)
    } catch (e) {
      report(path, errorText(e))
      return 0
    }
  }
  /** Token lifetimes are JWT seconds, so they must be whole seconds. */
  const ttlSeconds = (path: string, value: string): number => {
    const ms = duration(path, value)
    if (ms % 1000 !== 0) report(path, 'expected a whole number of seconds (like 90s, 15m)')
    return Math.floor(ms / 1000)
  }
  const deferred: DeferredSecret[] = []
  /** A `vault:` reference in a field that allows one resolves after the vault opens (null until then). */
  const deferrable = (path: DeferredSecret['field'], ref: string, resolveIt: () => string): string | null => {
    if (ref.startsWith('vault:')) {
      deferred.push({ field: path, ref })
      return null
    }
    return secret(path, resolveIt)
  }
  const secret = (path: string, resolveIt: () => string): string | null => {
    try {
      return resolveIt()
    } catch (e) {
      report(path, errorText(e))
      return null
    }
  }

  for (const [key, field, what] of [
    ['environments', 'name', 'environment'],
    ['operation_classes', 'name', 'operation class'],
    ['agents', 'id', 'agent id'],
    ['humans', 'id', 'human id'],
    ['resource_servers', 'id', 'resource server id'],
    ['providers', 'name', 'provider name'],
  ] as const) {
    duplicates(rawField(key, field), (i, j, n) =>
      report(`${key}[${i}].${field}`, `duplicate ${what} '${n}' (also ${key}[${j}])`),
    )
  }
  crossKindChecks(rawList, report)

  // server
  const server = section(ServerSchema, 'server') ?? {}
  const host = server.host ?? DEFAULTS.host
  const port = server.port ?? DEFAULTS.port
  const publicUrl = server.public_url ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  if (server.public_url !== undefined && !isHttpUrl(server.public_url)) {
    report('server.public_url', 'expected an http:// or https:// URL')
  }
  const metrics = parseMetrics(server.metrics, { host, port }, report)

  // store
  const store = section(StoreSchema, 'store')
  const storeConfig = parseStore(store, { opts, report, secret, duration })

  // vault: the master key comes from vault.master_key (env: or file:) or AIRLOCK_MASTER_KEY.
  const vaultRaw = section(VaultSchema, 'vault')
  if (vaultRaw?.backend === 'file' && vaultRaw.file === undefined)
    report('vault.file', 'required with backend: file')
  let masterKey: Buffer | null = null
  const masterRef = vaultRaw?.master_key
  const masterText =
    masterRef !== undefined
      ? masterRef.startsWith('vault:')
        ? (report('vault.master_key', 'cannot be kept in the vault it opens'), null)
        : secret('vault.master_key', () => resolveRef(masterRef, opts))
      : (opts.env['AIRLOCK_MASTER_KEY'] ?? null)
  // Set but empty is a mistake to name, not "no vault": an empty key opens nothing.
  if (masterText === '')
    report('AIRLOCK_MASTER_KEY', 'is set but empty (unset it, or give the base64 of 32 bytes)')
  else if (masterText) {
    try {
      masterKey = parseMasterKey(masterText)
    } catch (e) {
      report(masterRef !== undefined ? 'vault.master_key' : 'AIRLOCK_MASTER_KEY', errorText(e))
    }
  }
  const vault: VaultConfig = {
    backend: vaultRaw?.backend ?? (storeConfig.redis ? 'redis' : 'memory'),
    file: vaultRaw?.file === undefined ? null : resolve(opts.baseDir, vaultRaw.file),
    masterKey,
  }

  // tokens
  const tokens = section(TokensSchema, 'tokens') ?? {}
  const maxTtl = ttlSeconds('tokens.max_ttl', tokens.max_ttl ?? DEFAULTS.maxTtl)
  // Without an explicit default_ttl, a short max_ttl lowers the default instead of failing.
  const defaultTtl =
    tokens.default_ttl === undefined
      ? Math.min(parseDuration(DEFAULTS.defaultTtl) / 1000, maxTtl)
      : ttlSeconds('tokens.default_ttl', tokens.default_ttl)
  if (maxTtl * 1000 > MAX_TOKEN_TTL_MS) report('tokens.max_ttl', 'must be at most 12h')
  const retentionMs = duration('store.retention', store?.retention ?? DEFAULTS.storeRetention)
  // A record that vanishes before the sweeper saw it past its deadline loses its expiry event and
  // its revocation at expiry; an hour covers restarts and short outages of every replica.
  if (retentionMs > 0 && retentionMs < MIN_STORE_RETENTION_MS)
    report('store.retention', `must be at least ${formatDuration(MIN_STORE_RETENTION_MS)}`)
  if (defaultTtl > maxTtl)
    report('tokens.default_ttl', `must not exceed tokens.max_ttl (${formatDuration(maxTtl * 1000)})`)
  let signingKeyPem: string | null = null
  if (tokens.signing_key !== undefined) {
    const ref = tokens.signing_key
    signingKeyPem = deferrable('tokens.signing_key', ref, () => resolveRef(ref, opts))
    if (signingKeyPem !== null && !signingKeyPem.includes('PRIVATE KEY')) {
      report('tokens.signing_key', 'expected a PEM private key (-----BEGIN PRIVATE KEY-----)')
    }
  }

  // environments, operation classes
  const environments = items(EnvironmentSchema, 'environments').map(([e]) => ({ name: e.name }))
  const operationClasses: OperationClassConfig[] = items(OperationClassSchema, 'operation_classes').map(
    ([c]) => ({
      name: c.name,
      destructive: c.destructive ?? false,
    }),
  )
  const destructiveClasses = rawList('operation_classes').flatMap((c) =>
    isRecord(c) && c['destructive'] === true && typeof c['name'] === 'string' ? [c['name']] : [],
  )

  // principals
  const humanIds = names('humans', 'id')
  const approverIds = new Set(
    rawList('humans').flatMap((h) =>
      isRecord(h) &&
      typeof h['id'] === 'string' &&
      Array.isArray(h['roles']) &&
      h['roles'].includes('approver')
        ? [h['id']]
        : [],
    ),
  )
  const humanItems = items(HumanSchema, 'humans').map(([h, i]) => ({
    i,
    h: {
      id: h.id,
      roles: [...new Set<Role>(h.roles ?? [])],
      slackUserId: h.slack_user_id ?? null,
      apiKeySha256: h.api_key_sha256 ?? null,
      email: h.email ?? null,
      oidcSubject: h.oidc_subject ?? null,
    } satisfies HumanConfig,
  }))
  checkHumanIdentities(humanItems, report)
  const humans: HumanConfig[] = humanItems.map(({ h }) => h)
  const agents = buildAgents(items(AgentSchema, 'agents'), humanIds, report, ttlSeconds)
  const resourceServers: ResourceServerConfig[] = items(ResourceServerSchema, 'resource_servers').map(
    ([r]) => ({
      id: r.id,
      audiences: r.audiences,
      apiKeySha256: r.api_key_sha256,
    }),
  )

  // providers
  const envNames = names('environments', 'name')
  const classNames = names('operation_classes', 'name')
  const providers: ProviderConfig[] = []
  for (const [entry, i] of items(ProviderEntrySchema, 'providers')) {
    const { name, type, ...rest } = entry
    if (isProviderType(type)) {
      const result = providerRegistry[type].validate(rest, {
        name,
        environments: [...(envNames ?? [])],
        operationClasses: [...(classNames ?? [])],
        destructiveClasses: [...destructiveClasses],
      })
      if (result.ok) providers.push({ name, type, options: result.config })
      else for (const p of result.problems) report(joinPath(`providers[${i}]`, p.path), p.message)
    } else {
      report(`providers[${i}].type`, `provider '${name}' has unknown type '${type}'`)
    }
  }

  // policies
  const known = {
    agents: names('agents', 'id'),
    environments: envNames,
    operation_classes: classNames,
    providers: names('providers', 'name'),
  }
  const policies = items(PolicySchema, 'policies').map(([p, i]) =>
    buildPolicy(p, i, { known, humanIds, approverIds, destructiveClasses, ttlSeconds, report }),
  )

  // approvals, slack, audit, rate limits
  const approvals = section(ApprovalsSchema, 'approvals') ?? {}
  let slack: AirlockConfig['slack'] = null
  const slackRaw = raw['slack'] === undefined ? null : section(SlackSchema, 'slack')
  if (slackRaw) {
    const botToken = deferrable('slack.bot_token', slackRaw.bot_token, () =>
      resolveRef(slackRaw.bot_token, opts),
    )
    const signingSecret = deferrable('slack.signing_secret', slackRaw.signing_secret, () =>
      resolveRef(slackRaw.signing_secret, opts),
    )
    const apiUrl = slackRaw.api_url ?? DEFAULTS.slackApiUrl
    if (!isHttpUrl(apiUrl)) report('slack.api_url', 'expected an http:// or https:// URL')
    slack = {
      botToken,
      signingSecret,
      channel: slackRaw.channel,
      // Method names are appended to it, which needs the trailing slash.
      apiUrl: apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`,
    }
  }
  const audit = section(AuditSchema, 'audit') ?? {}
  const rateLimits = section(RateLimitsSchema, 'rate_limits') ?? {}
  const consoleRaw = raw['console'] === undefined ? null : section(ConsoleSchema, 'console')

  return {
    baseDir: opts.baseDir,
    vault,
    deferredSecrets: deferred,
    server: {
      host,
      port,
      publicUrl,
      bodyLimitBytes: server.body_limit_bytes ?? DEFAULTS.bodyLimitBytes,
      metrics,
    },
    store: {
      ...storeConfig,
      keyPrefix: store?.key_prefix ?? DEFAULTS.keyPrefix,
      retentionMs,
    },
    tokens: {
      algorithm: tokens.algorithm ?? DEFAULTS.algorithm,
      defaultTtlSeconds: defaultTtl,
      maxTtlSeconds: maxTtl,
      signingKeyPem,
      rotateEveryMs: duration('tokens.rotate_every', tokens.rotate_every ?? DEFAULTS.rotateEvery),
    },
    environments,
    operationClasses,
    agents,
    humans,
    resourceServers,
    providers,
    policies,
    approvals: {
      timeoutMs: duration('approvals.timeout', approvals.timeout ?? DEFAULTS.approvalTimeout),
      claimWindowMs: duration('approvals.claim_window', approvals.claim_window ?? DEFAULTS.claimWindow),
    },
    slack,
    audit: {
      stdout: audit.stdout ?? DEFAULTS.auditStdout,
      retentionMs: duration('audit.retention', audit.retention ?? DEFAULTS.auditRetention),
      checkpointEveryMs: duration(
        'audit.checkpoint_every',
        audit.checkpoint_every ?? DEFAULTS.checkpointEvery,
      ),
    },
    rateLimits: { perAgentPerMinute: rateLimits.per_agent_per_minute ?? DEFAULTS.perAgentPerMinute },
    console: parseConsole(consoleRaw, { opts, report, duration }),
  }
}

/** Ids shared between principal kinds, and API key hashes / Slack ids shared by anyone. */
function crossKindChecks(rawList: (key: string) => unknown[], report: Report): void {
  const kinds = ['agents', 'humans', 'resource_servers'] as const
  const unique = (field: string, message: (other: string, value: string) => string, acrossKinds = true) => {
    const seen = new Map<string, { kind: string; path: string }>()
    for (const kind of kinds) {
      rawList(kind).forEach((el, i) => {
        const value = isRecord(el) ? el[field] : undefined
        if (typeof value !== 'string') return
        const other = seen.get(value)
        if (!other) seen.set(value, { kind, path: `${kind}[${i}]` })
        else if (acrossKinds || other.kind !== kind)
          report(`${kind}[${i}].${field}`, message(other.path, value))
      })
    }
  }
  // Same-kind duplicate ids are reported as "duplicate agent id", so only cross-kind ones here.
  unique('id', (other, id) => `id '${id}' is also used by ${other}`, false)
  // Hashes are not secret, but the other holder's path is all a reader needs.
  unique('api_key_sha256', (other) => `duplicate api_key_sha256 (also used by ${other})`)
  unique('slack_user_id', (other, id) => `duplicate slack_user_id '${id}' (also used by ${other})`)
}

function buildAgents(
  agents: [Static<typeof AgentSchema>, number][],
  humanIds: Set<string> | null,
  report: Report,
  ttlSeconds: (path: string, value: string) => number,
): AgentConfig[] {
  const bindings = new Map<string, number>()
  return agents.map(([a, i]) => {
    const at = `agents[${i}]`
    const owners = typeof a.owner === 'string' ? [a.owner] : (a.owner ?? [])
    owners.forEach((o, k) => {
      if (humanIds && !humanIds.has(o))
        report(typeof a.owner === 'string' ? `${at}.owner` : `${at}.owner[${k}]`, `unknown human '${o}'`)
    })
    if (a.api_key_sha256 === undefined && a.oidc === undefined)
      report(at, 'needs api_key_sha256 or oidc (or both)')
    let oidc: AgentConfig['oidc'] = null
    if (a.oidc) {
      const o = a.oidc
      if (!isIssuerUrl(o.issuer))
        report(`${at}.oidc.issuer`, 'expected an https:// URL (http:// only for localhost)')
      if (o.jwks_uri !== undefined && !isIssuerUrl(o.jwks_uri)) {
        report(`${at}.oidc.jwks_uri`, 'expected an https:// URL (http:// only for localhost)')
      }
      const algorithms = o.algorithms ?? [...DEFAULTS.oidcAlgorithms]
      algorithms.forEach((alg, k) => {
        if (!OIDC_ALGORITHMS.includes(alg)) {
          const why = alg === 'none' || /^HS/i.test(alg) ? 'is not allowed' : 'is not supported'
          report(
            `${at}.oidc.algorithms[${k}]`,
            `'${alg}' ${why}: expected asymmetric ones (${OIDC_ALGORITHMS.join(', ')})`,
          )
        }
      })
      // Two agents with one binding would make a workload's identity ambiguous.
      const key = JSON.stringify([o.issuer, o.audience, o.subject])
      const other = bindings.get(key)
      if (other !== undefined) report(`${at}.oidc`, `same issuer, audience and subject as agents[${other}]`)
      else bindings.set(key, i)
      oidc = {
        issuer: o.issuer,
        audience: o.audience,
        subject: o.subject,
        jwksUri: o.jwks_uri ?? null,
        algorithms,
        maxLifetimeSeconds: ttlSeconds(`${at}.oidc.max_lifetime`, o.max_lifetime ?? DEFAULTS.oidcMaxLifetime),
      }
      if (oidc.maxLifetimeSeconds < 60) report(`${at}.oidc.max_lifetime`, 'expected at least 1m')
    }
    return { id: a.id, owners: [...new Set(owners)], apiKeySha256: a.api_key_sha256 ?? null, oidc }
  })
}

interface PolicyContext {
  known: Record<'agents' | 'environments' | 'operation_classes' | 'providers', Set<string> | null>
  humanIds: Set<string> | null
  approverIds: Set<string>
  destructiveClasses: string[]
  ttlSeconds: (path: string, value: string) => number
  report: Report
}

const MATCHER_NOUN = {
  agents: 'agent',
  environments: 'environment',
  operation_classes: 'operation class',
  providers: 'provider',
} as const

function buildPolicy(p: Static<typeof PolicySchema>, i: number, ctx: PolicyContext): PolicyRule {
  const at = `policies[${i}]`
  for (const key of ['agents', 'environments', 'operation_classes', 'providers'] as const) {
    p[key].forEach((m, k) => {
      if (!m.includes('*') && ctx.known[key]?.has(m) === false)
        ctx.report(`${at}.${key}[${k}]`, `unknown ${MATCHER_NOUN[key]} '${m}'`)
    })
  }
  p.approvers?.forEach((h, k) => {
    if (!ctx.humanIds) return
    if (!ctx.humanIds.has(h)) ctx.report(`${at}.approvers[${k}]`, `unknown human '${h}'`)
    else if (!ctx.approverIds.has(h))
      ctx.report(`${at}.approvers[${k}]`, `human '${h}' does not have the approver role`)
  })
  const effect = p.effect ?? 'allow'
  const approvals = p.approvals ?? 0
  // The load-time half of the two-person rule (the decision enforces max(N, 2) again).
  if (effect === 'allow' && approvals < 2) {
    // The same matcher as the runtime decision, so the load-time check and decide() never disagree.
    const hit = ctx.destructiveClasses.find((c) => p.operation_classes.some((m) => matches(m, c)))
    if (hit !== undefined)
      ctx.report(`${at}.approvals`, `destructive class '${hit}' needs at least 2 approvals`)
  }
  return {
    index: i,
    description: p.description ?? at,
    effect,
    agents: p.agents,
    environments: p.environments,
    operationClasses: p.operation_classes,
    providers: p.providers,
    approvals,
    approvers: p.approvers ?? null,
    maxTtlSeconds: p.max_ttl === undefined ? null : ctx.ttlSeconds(`${at}.max_ttl`, p.max_ttl),
  }
}

/** `*` matches any run of characters; everything else is literal. */
function duplicates(names: (string | null)[], found: (i: number, first: number, name: string) => void): void {
  const seen = new Map<string, number>()
  names.forEach((n, i) => {
    if (n === null) return
    const first = seen.get(n)
    if (first === undefined) seen.set(n, i)
    else found(i, first, n)
  })
}

const joinPath = (base: string, sub: string): string =>
  sub === '' ? base : sub.startsWith('[') ? base + sub : `${base}.${sub}`

const errorText = (e: unknown): string => (e instanceof Error ? e.message : 'invalid value')

function parseUrl(s: string): URL | null {
  try {
    return new URL(s)
  } catch {
    return null
  }
}

const isHttpUrl = (s: string): boolean => ['http:', 'https:'].includes(parseUrl(s)?.protocol ?? '')

/** OIDC keys fetched over plain http could be swapped in transit, so http only for local tests. */
function isIssuerUrl(s: string): boolean {
  const u = parseUrl(s)
  if (u?.protocol === 'https:') return true
  return u?.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname)
}
