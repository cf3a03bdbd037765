// AWS SDK clients for the aws provider: STS as the broker's own identity, IAM as each
// environment's admin role (or the broker). The broker's key is resolved from its secret reference
// when a client is built, and again after the secret rotates; it never leaves this module.
import { AirlockError, err } from '../../src/errors.js'
import { IAMClient } from '@aws-sdk/client-iam'
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts'
import type { SecretSource } from '../types.js'
import type { AwsEnvironmentConfig, AwsProviderConfig } from './config.js'
import { stsName } from './policy.js'
import { scrub } from '../../src/scrub.js'

interface StaticCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** Network and request timeouts: a dead endpoint is an error in seconds, never a hang. */
const HTTP = { connectionTimeout: 3000, requestTimeout: 10_000, throwOnRequestTimeout: true }
/** Admin role credentials are renewed this long before they expire. */
const ADMIN_RENEW_MS = 5 * 60_000
const ADMIN_SECONDS = 900

/**
 * The broker's secret: JSON `{"access_key_id": "AKIA...", "secret_access_key": "..."}` (an
 * optional `session_token` too). Errors name the reference, never the value.
 */
export function parseBrokerKey(raw: string, ref: string): StaticCredentials {
  let v: unknown
  try {
    v = JSON.parse(raw)
  } catch {
    throw err.unavailable(`the secret ${ref} is not JSON {"access_key_id", "secret_access_key"}`)
  }
  const o = v as Record<string, unknown>
  const ok =
    typeof v === 'object' &&
    v !== null &&
    typeof o['access_key_id'] === 'string' &&
    typeof o['secret_access_key'] === 'string' &&
    (o['session_token'] === undefined || typeof o['session_token'] === 'string') &&
    Object.keys(o).every((k) => ['access_key_id', 'secret_access_key', 'session_token'].includes(k))
  if (!ok) {
    throw err.unavailable(
      `the secret ${ref} must be JSON with string fields access_key_id and secret_access_key (and optionally session_token), nothing else`,
    )
  }
  // An empty field is no credential: refused here, before anything is signed with it.
  for (const k of ['access_key_id', 'secret_access_key', 'session_token']) {
    if (typeof o[k] === 'string' && o[k].trim() === '')
      throw err.unavailable(`the secret ${ref} has an empty ${k}`)
  }
  return {
    accessKeyId: o['access_key_id'] as string,
    secretAccessKey: o['secret_access_key'] as string,
    ...(typeof o['session_token'] === 'string' && { sessionToken: o['session_token'] }),
  }
}

/** The broker's own key could not be read or parsed: nothing was sent to AWS. */
export class BrokerKeyError extends AirlockError {
  constructor(message: string, cause: unknown) {
    super('unavailable', message, { cause })
    this.name = 'BrokerKeyError'
  }
}

export interface AwsClients {
  /** STS as the broker's own identity. */
  sts(): Promise<STSClient>
  /** IAM for one environment: as its admin role when configured, else as the broker. */
  iam(env: AwsEnvironmentConfig): Promise<IAMClient>
  /** The broker's secret changed: build every client again from the new value. */
  reset(): void
  /**
   * After a failed call: when AWS says the credentials themselves are bad or expired (a temporary
   * broker key ran out, a key was rotated without notice), build the clients again on next use.
   */
  noteFailure(e: unknown): void
  close(): void
}

export function createAwsClients(
  config: AwsProviderConfig,
  deps: { secrets: SecretSource; now: () => number; providerName: string },
): AwsClients {
  const base = { region: config.region, maxAttempts: 1, requestHandler: HTTP }
  let broker: Promise<StaticCredentials | null> | null = null
  let sts: Promise<STSClient> | null = null
  let iamAsBroker: Promise<IAMClient> | null = null
  const admin = new Map<
    string,
    { pending: Promise<{ client: IAMClient; renewAt: number }>; renewAt: number }
  >()
  let built: { destroy(): void }[] = []

  const brokerCredentials = () =>
    (broker ??= (async () => {
      const ref = config.credentialsRef
      if (ref === null) return null // the SDK's default (ambient) chain
      // A missing or unreadable secret (vault, env, file) is said as such, naming the reference.
      const raw = await deps.secrets.resolve(ref).catch((e: unknown) => {
        throw new BrokerKeyError(`the broker's AWS key ${ref} cannot be read: ${(e as Error).message}`, e)
      })
      try {
        return parseBrokerKey(raw, ref)
      } catch (e) {
        throw new BrokerKeyError((e as Error).message, e)
      }
    })().catch((e: unknown) => {
      broker = null // a later call tries again (the vault may be back)
      throw e
    }))

  const track = <C extends { destroy(): void }>(c: C): C => {
    built.push(c)
    return c
  }
  // A replaced client may still be answering a call: it is destroyed a minute later, not leaked.
  const retire = (c: { destroy(): void }) => {
    built = built.filter((b) => b !== c)
    setTimeout(() => c.destroy(), RETIRE_MS).unref()
  }
  const retireAll = () => {
    for (const c of built) setTimeout(() => c.destroy(), RETIRE_MS).unref()
    built = []
  }

  const makeSts = () =>
    (sts ??= (async () => {
      const credentials = await brokerCredentials()
      return track(
        new STSClient({
          ...base,
          ...(config.stsEndpoint !== null && { endpoint: config.stsEndpoint }),
          ...(credentials !== null && { credentials }),
        }),
      )
    })().catch((e: unknown) => {
      sts = null
      throw e
    }))

  const iamClient = (credentials: StaticCredentials | null) =>
    track(
      new IAMClient({
        ...base,
        ...(config.iamEndpoint !== null && { endpoint: config.iamEndpoint }),
        ...(credentials !== null && { credentials }),
      }),
    )

  const assumeAdmin = async (env: AwsEnvironmentConfig): Promise<{ client: IAMClient; renewAt: number }> => {
    const client = await makeSts()
    const out = await client.send(
      new AssumeRoleCommand({
        RoleArn: env.adminRoleArn as string,
        RoleSessionName: stsName(`airlock-${deps.providerName}`),
        DurationSeconds: ADMIN_SECONDS,
        ...(env.adminExternalId !== null && { ExternalId: env.adminExternalId }),
      }),
    )
    const c = out.Credentials
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration)
      throw err.unavailable(`STS returned no credentials for ${env.adminRoleArn}`)
    return {
      client: iamClient({
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
      }),
      renewAt: c.Expiration.getTime() - ADMIN_RENEW_MS,
    }
  }

  const reset = () => {
    broker = null
    sts = null
    iamAsBroker = null
    admin.clear()
    retireAll()
  }

  return {
    sts: makeSts,
    async iam(env) {
      if (env.adminRoleArn === null) {
        iamAsBroker ??= brokerCredentials()
          .then(iamClient)
          .catch((e: unknown) => {
            iamAsBroker = null
            throw e
          })
        return iamAsBroker
      }
      const arn = env.adminRoleArn
      const cached = admin.get(arn)
      if (cached && cached.renewAt > deps.now()) return (await cached.pending).client
      if (cached) void cached.pending.then((old) => retire(old.client)).catch(() => {})
      // Concurrent callers share one AssumeRole while it is pending (renewAt stays open until then).
      const entry = { pending: assumeAdmin(env), renewAt: Infinity }
      admin.set(arn, entry)
      try {
        const a = await entry.pending
        entry.renewAt = a.renewAt
        return a.client
      } catch (e) {
        if (admin.get(arn) === entry) admin.delete(arn)
        throw e
      }
    },
    reset,
    noteFailure(e) {
      if (CREDENTIAL_FAULTS.has(awsCode(e))) reset()
    },
    close() {
      for (const c of built.splice(0)) c.destroy()
    },
  }
}

const RETIRE_MS = 60_000

/** What AWS answers when the signing credentials themselves are wrong or expired. */
const CREDENTIAL_FAULTS = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'UnrecognizedClientException',
])

const RETRYABLE = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'InternalError',
  'ServiceFailure',
  'ServiceFailureException',
  'IDPCommunicationError',
  'IDPCommunicationErrorException',
  'RequestTimeout',
  'RequestTimeoutException',
  'PriorRequestNotComplete',
])
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND'])

interface AwsErrorShape {
  name?: string
  code?: string
  Code?: string
  $metadata?: { httpStatusCode?: number }
}

/** The error's AWS code (`Throttling`, `AccessDenied`, `NoSuchEntity`...) or its network code. */
export const awsCode = (e: unknown): string => {
  if (e instanceof AirlockError) return 'Error' // ours, not AWS's
  const x = e as AwsErrorShape
  return String(x?.Code ?? x?.name ?? x?.code ?? 'Error').replace(/Exception$/, '')
}

/** Throttling, AWS-side failures and network trouble are worth another try; client errors are not. */
export function isTransient(e: unknown): boolean {
  const x = e as AwsErrorShape
  const status = x?.$metadata?.httpStatusCode
  if (status !== undefined && status >= 500) return true
  if (RETRYABLE.has(String(x?.Code ?? x?.name))) return true
  if (x?.name === 'TimeoutError') return true
  return NETWORK.has(String(x?.code))
}

/**
 * A one-line description for logs, audit reasons and the caller: the AWS code and message, through
 * the scrubber here, the one place every AWS error passes, so no caller has to remember to.
 */
export const describe = (e: unknown): string => {
  if (e instanceof BrokerKeyError) return e.message.slice(0, 300) // names the reference, never the value
  const msg = ((e as Error)?.message ?? String(e)).split('\n')[0] ?? ''
  const code = awsCode(e)
  return scrub(code === 'Error' ? msg : `${code}: ${msg}`).slice(0, 300)
}

export interface RetryOptions {
  attempts: number
  baseDelayMs: number
  maxDelayMs: number
}
export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 100, maxDelayMs: 2000 }

/** Runs `fn` until it succeeds, fails for good, or `attempts` transient failures pass (full jitter). */
export async function withRetries<T>(
  fn: () => Promise<T>,
  opts: RetryOptions = DEFAULT_RETRY,
  onRetry?: (e: unknown, attempt: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (e) {
      if (attempt >= opts.attempts || !isTransient(e)) throw e
      onRetry?.(e, attempt)
      const cap = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (attempt - 1))
      await new Promise((r) => setTimeout(r, Math.random() * cap))
    }
  }
}
