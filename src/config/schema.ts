// The raw YAML shape (snake_case, as in config/airlock.example.yaml). Objects reject unknown keys so
// typos surface; provider entries keep everything but `name` and `type` for the provider's own
// `validate`. Defaults live in DEFAULTS and are applied by load.ts, not by the schema.
// `errorMessage` is our own annotation, read by schemaProblems (below) to say what was expected.
import { Type, type TSchema } from '@sinclair/typebox'
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value'
import { DURATION_HINT, DURATION_PATTERN } from './duration.js'
import { LITERAL_SECRET, SECRET_REF_PATTERN } from './secrets.js'
import { ConsoleSchema, HUMAN_CONSOLE_FIELDS } from './console.js'

export const NAME_PATTERN = '^[A-Za-z0-9._-]{1,64}$'
/** A name, `*`, or a glob with `*` (policy matchers). */
export const MATCHER_PATTERN = '^[A-Za-z0-9._*-]{1,64}$'

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  bodyLimitBytes: 65_536,
  keyPrefix: 'airlock:',
  storeRetention: '24h',
  replicaAcks: 0,
  replicaAckTimeout: '1s',
  algorithm: 'EdDSA',
  defaultTtl: '15m',
  maxTtl: '1h',
  rotateEvery: '24h',
  approvalTimeout: '30m',
  claimWindow: '10m',
  auditStdout: true,
  auditRetention: '90d',
  checkpointEvery: '60s',
  perAgentPerMinute: 120,
  oidcAlgorithms: ['RS256', 'ES256', 'EdDSA'],
  oidcMaxLifetime: '1h',
  slackApiUrl: 'https://slack.com/api/',
} as const

const strict = <T extends Parameters<typeof Type.Object>[0]>(props: T) =>
  Type.Object(props, { additionalProperties: false })
const opt = <T extends TSchema>(s: T) => Type.Optional(s)
const list = <T extends TSchema>(item: T, minItems = 0) =>
  Type.Array(item, {
    minItems,
    errorMessage: minItems > 0 ? `expected a list of at least ${minItems}` : 'expected a list',
  })
const int = (minimum: number, maximum: number) =>
  Type.Integer({ minimum, maximum, errorMessage: `expected an integer from ${minimum} to ${maximum}` })
const text = (maxLength = 512) =>
  Type.String({
    minLength: 1,
    maxLength,
    errorMessage: `expected a non-empty string of at most ${maxLength} characters`,
  })

const Name = Type.String({ pattern: NAME_PATTERN, errorMessage: 'expected 1-64 characters of A-Za-z0-9._-' })
const Matcher = Type.String({
  pattern: MATCHER_PATTERN,
  errorMessage: 'expected a name, "*" or a glob: 1-64 characters of A-Za-z0-9._-*',
})
const Duration = Type.String({ pattern: DURATION_PATTERN, errorMessage: DURATION_HINT })
const SecretRef = Type.String({ pattern: SECRET_REF_PATTERN, errorMessage: LITERAL_SECRET })
const Sha256 = Type.String({
  pattern: '^[0-9a-f]{64}$',
  errorMessage: 'expected 64 lowercase hex characters',
})
const Role = Type.Union([Type.Literal('approver'), Type.Literal('operator'), Type.Literal('admin')], {
  errorMessage: 'expected approver, operator or admin',
})

export const ServerSchema = strict({
  host: opt(text(255)),
  port: opt(int(0, 65_535)),
  public_url: opt(text(2048)),
  body_limit_bytes: opt(int(1024, 100 * 1024 * 1024)),
  metrics: opt(
    Type.Union([Type.Literal('public'), Type.Literal('operator'), strict({ listen: text(300) })], {
      errorMessage: 'expected public, operator or { listen: "host:port" }',
    }),
  ),
})

const HostPort = Type.String({
  pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9._-]+):[0-9]{1,5}$',
  errorMessage: 'expected "host:port"',
})

export const StoreSchema = strict({
  redis_url: opt(text(2048)),
  sentinel: opt(
    strict({
      name: text(255),
      sentinels: list(HostPort, 1),
      password: opt(SecretRef),
      sentinel_password: opt(SecretRef),
    }),
  ),
  cluster: opt(strict({ nodes: list(HostPort, 1), password: opt(SecretRef) })),
  tls: opt(
    strict({ ca: opt(SecretRef), cert: opt(SecretRef), key: opt(SecretRef), servername: opt(text(255)) }),
  ),
  replica_acks: opt(int(0, 16)),
  replica_ack_timeout: opt(Duration),
  key_prefix: opt(text(64)),
  retention: opt(Duration),
})

export const VaultSchema = strict({
  backend: opt(
    Type.Union([Type.Literal('redis'), Type.Literal('file')], { errorMessage: 'expected redis or file' }),
  ),
  file: opt(text(1024)),
  master_key: opt(SecretRef),
})

export const TokensSchema = strict({
  algorithm: opt(
    Type.Union([Type.Literal('EdDSA'), Type.Literal('ES256')], { errorMessage: 'expected EdDSA or ES256' }),
  ),
  default_ttl: opt(Duration),
  max_ttl: opt(Duration),
  signing_key: opt(SecretRef),
  rotate_every: opt(Duration),
})

export const EnvironmentSchema = strict({ name: Name })

export const OperationClassSchema = strict({
  name: Name,
  destructive: opt(Type.Boolean({ errorMessage: 'expected true or false' })),
})

export const OidcSchema = strict({
  issuer: text(2048),
  audience: text(),
  subject: text(),
  jwks_uri: opt(text(2048)),
  algorithms: opt(list(text(16), 1)),
  max_lifetime: opt(Duration),
})

export const AgentSchema = strict({
  id: Name,
  owner: opt(
    Type.Union([Name, list(Name, 1)], { errorMessage: 'expected a human id or a list of human ids' }),
  ),
  api_key_sha256: opt(Sha256),
  oidc: opt(OidcSchema),
})

export const HumanSchema = strict({
  id: Name,
  roles: opt(list(Role)),
  slack_user_id: opt(text(64)),
  api_key_sha256: opt(Sha256),
  ...HUMAN_CONSOLE_FIELDS,
})

export const ResourceServerSchema = strict({
  id: Name,
  audiences: list(text(), 1),
  api_key_sha256: Sha256,
})

/** Only name and type are ours; the rest belongs to the provider type's `validate`. */
export const ProviderEntrySchema = Type.Object({ name: Name, type: text(64) }, { additionalProperties: true })

export const PolicySchema = strict({
  description: opt(text(500)),
  effect: opt(
    Type.Union([Type.Literal('allow'), Type.Literal('deny')], { errorMessage: 'expected allow or deny' }),
  ),
  agents: list(Matcher, 1),
  environments: list(Matcher, 1),
  operation_classes: list(Matcher, 1),
  providers: list(Matcher, 1),
  approvals: opt(int(0, 10)),
  approvers: opt(list(Name, 1)),
  max_ttl: opt(Duration),
})

export const ApprovalsSchema = strict({ timeout: opt(Duration), claim_window: opt(Duration) })

export const SlackSchema = strict({
  bot_token: SecretRef,
  signing_secret: SecretRef,
  channel: text(64),
  api_url: opt(text(2048)),
})

export const AuditSchema = strict({
  stdout: opt(Type.Boolean({ errorMessage: 'expected true or false' })),
  retention: opt(Duration),
  checkpoint_every: opt(Duration),
})

export const RateLimitsSchema = strict({ per_agent_per_minute: opt(int(1, 1_000_000)) })

export const RawConfigSchema = strict({
  server: opt(ServerSchema),
  store: opt(StoreSchema),
  vault: opt(VaultSchema),
  tokens: opt(TokensSchema),
  environments: list(EnvironmentSchema, 1),
  operation_classes: list(OperationClassSchema, 1),
  agents: opt(list(AgentSchema)),
  humans: opt(list(HumanSchema)),
  resource_servers: opt(list(ResourceServerSchema)),
  providers: opt(list(ProviderEntrySchema)),
  policies: opt(list(PolicySchema)),
  approvals: opt(ApprovalsSchema),
  slack: opt(SlackSchema),
  audit: opt(AuditSchema),
  rate_limits: opt(RateLimitsSchema),
  console: opt(ConsoleSchema),
})

export interface Problem {
  path: string
  message: string
}

/** Every schema violation in `doc`, one per path, with paths like `policies[2].approvals`. */
export function schemaProblems(doc: unknown): Problem[] {
  const byPath = new Map<string, string>()
  for (const e of Value.Errors(RawConfigSchema, doc)) {
    const path = toPath(e.path, doc)
    // The first error per path is the most telling (`required` comes before the type error).
    if (!byPath.has(path)) byPath.set(path, describe(e))
  }
  return [...byPath].map(([path, message]) => ({ path, message }))
}

function describe(e: ValueError): string {
  if (e.type === ValueErrorType.ObjectRequiredProperty) return 'required'
  if (e.type === ValueErrorType.ObjectAdditionalProperties) {
    const key = e.path.slice(e.path.lastIndexOf('/') + 1)
    const props: unknown = e.schema['properties']
    const near = isRecord(props) ? Object.keys(props).find((k) => editDistance(k, key) <= 2) : undefined
    return near ? `unknown key (did you mean '${near}'?)` : 'unknown key'
  }
  const custom: unknown = e.schema['errorMessage']
  if (typeof custom === 'string') return custom
  if (e.type === ValueErrorType.Object) return 'expected a mapping (key: value)'
  // TypeBox's own wording ("Expected string"); it never quotes the value.
  return e.message.charAt(0).toLowerCase() + e.message.slice(1)
}

/** JSON pointer → `a.b[2].c`, using the document to tell array indices from numeric keys. */
function toPath(pointer: string, root: unknown): string {
  let out = ''
  let node = root
  for (const seg of pointer.split('/').slice(1)) {
    const key = seg.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(node)) {
      out += `[${key}]`
      node = node[Number(key)]
    } else {
      out += out ? `.${key}` : key
      node = isRecord(node) ? node[key] : undefined
    }
  }
  return out
}

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost)
    }
    prev = cur
  }
  return prev[b.length] ?? 0
}
