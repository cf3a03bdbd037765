// The provider interface: what the broker core asks of every credential source. Designed for the
// jwt provider (here), AWS STS and PostgreSQL roles (their own folders), which slot in through
// providers/registry.ts without touching the core.
import type { TSchema } from '@sinclair/typebox'
import type { FastifyBaseLogger } from 'fastify'

export interface ValidateContext {
  name: string
  environments: string[]
  operationClasses: string[]
  /** The classes marked `destructive: true` (granted only after two approvals). */
  destructiveClasses: string[]
}

export type Validated<C> =
  { ok: true; config: C } | { ok: false; problems: { path: string; message: string }[] }

/**
 * Where providers get their long-lived secrets: `env:NAME`, `file:PATH` or `vault:PATH` references,
 * resolved when needed (and again after `secretRotated`). A failure names the reference, never a value.
 */
export interface SecretSource {
  resolve(ref: string): Promise<string>
}

export interface ProviderContext {
  name: string
  secrets: SecretSource
  /**
   * Distinguishes this deployment's objects from another Airlock's on the same backend. The same on
   * every replica and across restarts (a random id kept in the deployment's Redis), never per host
   * or process, and different for another deployment even when it uses the same key prefix.
   */
  instanceId: string
  log: FastifyBaseLogger
  // --- Added with the aws provider (additive; other providers may ignore them) ---
  /** The broker's clock (ms since the epoch), so providers and tests agree on time. */
  clock: { now(): number }
  /** Shared state in the broker's store (Redis, or memory in dev), under this provider's own keys. */
  state: ProviderState
  /**
   * The provider cut off credentials of live sessions wholesale (e.g. AWS's `aws:TokenIssueTime`
   * fallback): the broker marks them revoked and audits it loudly. Returns the ids it revoked now
   * (sessions already finished are skipped). Throws when the store cannot be written.
   */
  onMassRevocation(sessionIds: string[], reason: string): Promise<string[]>
  // --- Added with the github provider (additive) ---
  /**
   * Seals what a provider must keep that is itself a credential (a GitHub token, kept only to revoke
   * it), under the vault's master key. Absent or null when the broker has no vault.
   */
  sealer?: Sealer | null
}

/** Encrypts small values under the vault's master key; `context` binds each to its use. */
export interface Sealer {
  seal(context: string, value: string): Promise<string>
  open(context: string, sealed: string): Promise<string>
}

export interface ScoredMember {
  member: string
  score: number
}

/**
 * A small, generic slice of the store for providers: sorted sets and an exclusive lock shared by
 * every replica. Names are the provider's own; the store prefixes them with the provider's name.
 * Every call fails (never hangs) when the store cannot be reached.
 */
export interface ProviderState {
  /** Adds members or updates their scores; with `onlyNew`, existing members are left as they are. Returns how many were new. */
  zadd(set: string, entries: ScoredMember[], opts?: { onlyNew?: boolean }): Promise<number>
  zrem(set: string, members: string[]): Promise<number>
  zscore(set: string, member: string): Promise<number | null>
  /** Members with `min <= score <= max` (defaults: all), lowest score first. */
  zrange(set: string, min?: number, max?: number): Promise<ScoredMember[]>
  /** Removes members scoring below `max`; returns how many. */
  zremBelow(set: string, max: number): Promise<number>
  /**
   * Runs `fn` holding an exclusive lock across replicas (released with a compare-and-delete on
   * an owner token, so a lock that timed out and was taken by another is never released by us).
   * Waits at most `waitMs` (default `ttlMs`) for it, then throws.
   */
  withLock<T>(name: string, ttlMs: number, fn: () => Promise<T>, opts?: { waitMs?: number }): Promise<T>
}

export interface IssueInput {
  sessionId: string
  /**
   * This issue attempt (the jti of the token it will carry). A session may be issued more than once
   * (a claim undone and claimed again): credentials outside Airlock are named after the attempt, so
   * revoking one attempt never touches another's. A retry of the same attempt names the same thing.
   */
  attempt: string
  agent: string
  taskId: string
  environment: string
  operationClass: string
  ttlSeconds: number
  /** Session end (ms). Credentials must never outlive it. */
  expiresAt: number
}

export interface Issued {
  /** Returned to the agent once, in the grant; never stored. */
  credentials: Record<string, unknown>
  /** Non-secret facts needed to revoke later (stored with the session). */
  handle: Record<string, string>
}

export interface RevokeInput {
  sessionId: string
  /**
   * The attempt whose credentials to revoke (see IssueInput.attempt), needed when `handle` is null.
   * Null or absent for credentials issued before attempts had names of their own (named after the
   * session).
   */
  attempt?: string | null
  environment: string
  operationClass: string
  /** null when issuing never finished (a crash between the provider call and activation). */
  handle: Record<string, string> | null
  expiresAt: number
}

export interface ProviderHealth {
  ok: boolean
  error: string | null
}

export interface Provider {
  readonly name: string
  readonly type: ProviderType
  /** The `aud` of this provider's session tokens. */
  readonly audience: string
  /** True when `issue` creates something outside Airlock that must be revoked (an IAM session, a DB role). */
  readonly external: boolean
  supportsEnvironment(environment: string): boolean
  /** The longest credentials this provider can issue; longer sessions are clamped to it. */
  readonly maxTtlSeconds?: number
  /** Idempotent preparation at start (group roles, cached ids). */
  setup(): Promise<void>
  /** Idempotent on `attempt`: a retry never mints twice; another attempt mints apart from it. */
  issue(input: IssueInput): Promise<Issued>
  /** Idempotent; throws when the backend could not confirm it (the broker then queues a retry). */
  revoke(input: RevokeInput): Promise<void>
  /** Remove leftovers of sessions the broker no longer knows; returns how many were removed. */
  reap(isLive: (sessionIds: string[]) => Promise<Set<string>>): Promise<number>
  health(): Promise<ProviderHealth>
  /**
   * A secret changed: `changed` is its full reference (`vault:aws/broker`), or `*` when the vault
   * cannot say which (a file vault rewritten). Test with rotationCovers.
   */
  secretRotated(changed: string): Promise<void>
  close(): Promise<void>
  /**
   * Credentials built around the session token, for providers whose grant is a way to reach Airlock
   * itself (the gateway): called once the token is signed; replaces what `issue` returned.
   */
  grantCredentials?(token: string, publicUrl: string): Record<string, unknown>
}

/** Whether a secretRotated notice concerns the reference `ref` a provider uses. */
export const rotationCovers = (changed: string, ref: string | null): boolean =>
  ref !== null && (changed === '*' || changed === ref)

export interface ProviderFns<C = unknown> {
  /** The keys of the provider's config entry besides `name` and `type`, as the YAML writes them. */
  readonly schema: TSchema
  /**
   * Checks the provider's section of the config: the schema, the environment and class names it
   * uses, then what a schema cannot say. Every problem names its path within the entry.
   */
  validate(raw: Record<string, unknown>, ctx: ValidateContext): Validated<C>
  create(config: C, ctx: ProviderContext): Provider
  /**
   * What outside Airlock this provider must be alone to write (an AWS role's deny policy): the
   * loader refuses two providers with the same `key`. `path` is within the entry.
   */
  exclusive?(config: C): Exclusive[]
}

export interface Exclusive {
  path: string
  key: string
  /** Names it in the problem, e.g. "the deny policy airlock-revoked-sessions of role arn:...". */
  what: string
}

export type ProviderType = 'jwt' | 'aws' | 'postgres' | 'github' | 'gateway'
