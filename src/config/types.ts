// The resolved, validated configuration. The YAML file (config/airlock.example.yaml) uses snake_case;
// the loader turns it into this shape, with durations in milliseconds or seconds as named, and
// secret references (env:, file:) already resolved to their values.
import type { RedisConnection } from '../redis/connection.js'

export type Role = 'approver' | 'operator' | 'admin'

export interface ServerConfig {
  host: string
  port: number
  publicUrl: string
  bodyLimitBytes: number
  metrics: MetricsConfig
}

// Where Redis is and how to reach it: the Redis client's own types (src/redis).
export type { HostPort, RedisConnection, RedisTls, RedisTopology } from '../redis/connection.js'

/** Who may read /metrics: anyone, operators, or anyone reaching a separate listen address. */
export type MetricsConfig =
  { mode: 'public' } | { mode: 'operator' } | { mode: 'listen'; host: string; port: number }

export interface StoreConfig {
  /** Null means the in-memory store (only `airlock dev` allows that). */
  redis: RedisConnection | null
  keyPrefix: string
  retentionMs: number
  /** Replicas that must hold each grant, approval, revocation or lock before it is answered (WAIT). */
  replicaAcks: number
  replicaAckTimeoutMs: number
}

export interface TokensConfig {
  algorithm: 'EdDSA' | 'ES256'
  defaultTtlSeconds: number
  maxTtlSeconds: number
  /** PEM (PKCS#8) private key, resolved from a `file:` reference; null when not configured. */
  signingKeyPem: string | null
  rotateEveryMs: number
}

export interface OidcBinding {
  issuer: string
  audience: string
  subject: string
  /** Defaults to the issuer's discovery document. */
  jwksUri: string | null
  algorithms: string[]
  /** Longest accepted `exp - iat`: a workload token is short-lived or refused (default 1h). */
  maxLifetimeSeconds: number
}

export interface AgentConfig {
  id: string
  owners: string[]
  apiKeySha256: string | null
  oidc: OidcBinding | null
}

export interface HumanConfig {
  id: string
  roles: Role[]
  slackUserId: string | null
  apiKeySha256: string | null
  /** Matched (without case) to the `email` of a console OIDC sign-in. */
  email: string | null
  /** Matched to the `sub` of a console OIDC sign-in. */
  oidcSubject: string | null
}

export interface ResourceServerConfig {
  id: string
  audiences: string[]
  apiKeySha256: string | null
}

export interface EnvironmentConfig {
  name: string
}

export interface OperationClassConfig {
  name: string
  destructive: boolean
}

/** Provider sections are validated by the provider's own `validate` (providers/registry.ts). */
export interface ProviderConfig {
  name: string
  type: string
  /** The provider's validated options, typed by its own module. */
  options: unknown
}

export interface PolicyRule {
  /** Index in the file, for messages. */
  index: number
  description: string
  effect: 'allow' | 'deny'
  agents: string[]
  environments: string[]
  operationClasses: string[]
  providers: string[]
  approvals: number
  /** null: any human with the approver role. */
  approvers: string[] | null
  maxTtlSeconds: number | null
}

export interface ApprovalsConfig {
  timeoutMs: number
  claimWindowMs: number
}

export interface SlackConfig {
  /** null until a `vault:` reference resolves (the feature waits for it: never an empty key). */
  botToken: string | null
  /** null until a `vault:` reference resolves: interactions then answer 503, never verify with ''. */
  signingSecret: string | null
  channel: string
  apiUrl: string
}

/** The web console (src/console); null when the config has no `console` section. */
export interface ConsoleConfig {
  oidc: {
    issuer: string
    clientId: string
    /** A secret reference (env:, file:, vault:), resolved at each sign-in. */
    clientSecretRef: string
    scopes: string[]
  } | null
  apiKeyLogin: boolean
  idleTimeoutMs: number
  absoluteTimeoutMs: number
}

export interface AuditConfig {
  stdout: boolean
  retentionMs: number
  checkpointEveryMs: number
}

export interface VaultConfig {
  /** memory only for `airlock dev` and tests. */
  backend: 'redis' | 'file' | 'memory'
  /** Absolute path of the encrypted file (backend: file). */
  file: string | null
  /** 32 bytes from vault.master_key or AIRLOCK_MASTER_KEY; null: no vault. */
  masterKey: Buffer | null
  /** vault.previous_master_key or AIRLOCK_PREVIOUS_MASTER_KEY: opens records not yet re-sealed. */
  previousMasterKey?: Buffer | null
}

/** A config field whose value is a `vault:` reference, resolved once the vault is open. */
export interface DeferredSecret {
  field: 'slack.bot_token' | 'slack.signing_secret' | 'tokens.signing_key'
  ref: string
}

export interface AirlockConfig {
  /** The config file's directory: `file:` references resolve against it. */
  baseDir: string
  vault: VaultConfig
  deferredSecrets: DeferredSecret[]
  server: ServerConfig
  store: StoreConfig
  tokens: TokensConfig
  environments: EnvironmentConfig[]
  operationClasses: OperationClassConfig[]
  agents: AgentConfig[]
  humans: HumanConfig[]
  resourceServers: ResourceServerConfig[]
  providers: ProviderConfig[]
  policies: PolicyRule[]
  approvals: ApprovalsConfig
  slack: SlackConfig | null
  audit: AuditConfig
  rateLimits: { perAgentPerMinute: number }
  console: ConsoleConfig | null
}
