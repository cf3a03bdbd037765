// The raw YAML shape (snake_case, as in config/airlock.example.yaml). Objects reject unknown keys so
// typos surface; provider entries keep everything but `name` and `type` for the provider's own
// schema (providers/*/config.ts). Defaults live in DEFAULTS and are applied by the loader, not by
// the schema. Problems are worded by the walker in src/validation/schema.ts.
import { Type } from '@sinclair/typebox'
import {
  Duration,
  SecretRef,
  int,
  list,
  opt,
  schemaProblems,
  strict,
  text,
  type Problem,
} from '../validation/schema.js'
import { ConsoleSchema, HUMAN_CONSOLE_FIELDS } from './sections/console.js'

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

const Name = Type.String({ pattern: NAME_PATTERN, errorMessage: 'expected 1-64 characters of A-Za-z0-9._-' })
const Matcher = Type.String({
  pattern: MATCHER_PATTERN,
  errorMessage: 'expected a name, "*" or a glob: 1-64 characters of A-Za-z0-9._-*',
})
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
  /** The key being replaced, given while a broker re-seals the vault under master_key. */
  previous_master_key: opt(SecretRef),
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

/** Every schema violation in the config file, one per path, like `policies[2].approvals`. */
export const configProblems = (doc: unknown): Problem[] => schemaProblems(RawConfigSchema, doc)
