// The aws provider: one STS AssumeRole per issue attempt on the environment's role, narrowed by a
// session policy to the operation class's actions; revocation through the role's deny policy
// (deny-list.ts). Each attempt has its own STS session name, so denying one leaves another alone.
// The broker's own AWS key never leaves the broker.
import { err } from '../../src/errors.js'
import { AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts'
import { rotationCovers, type Provider, type ProviderContext, type RevokeInput } from '../types.js'
import {
  BrokerKeyError,
  createAwsClients,
  describe,
  isTransient,
  withRetries,
  DEFAULT_RETRY,
} from './clients.js'
import { STS_MIN_SECONDS, type AwsEnvironmentConfig, type AwsProviderConfig } from './config.js'
import { createDenyList } from './deny-list.js'
import { TAG_KEYS, attemptSessionName, sessionPolicy, stsName, tagValue } from './policy.js'

const HEALTH_CACHE_MS = 30_000
const iso = (ms: number) => new Date(ms).toISOString()

/**
 * DurationSeconds for a session ending at `expiresAt`: a second short of the session's remaining
 * time (so the credentials are dead by the time the sweeper expires the session), at least STS's
 * 900 s (shorter sessions are denied actively when they end), at most the role's maximum.
 */
export const durationFor = (expiresAt: number, now: number, maxSeconds: number): number =>
  Math.min(maxSeconds, Math.max(STS_MIN_SECONDS, Math.floor((expiresAt - now) / 1000) - 1))

export function createAwsProvider(config: AwsProviderConfig, ctx: ProviderContext): Provider {
  const now = () => ctx.clock.now()
  const retry = DEFAULT_RETRY
  const clients = createAwsClients(config, { secrets: ctx.secrets, now, providerName: ctx.name })
  let lastError: string | null = null
  /** Whether lastError is about the broker's key (cleared when that secret rotates). */
  let lastErrorIsKey = false
  let health: { at: number; error: string | null } | null = null
  const failed = (message: string | null, isKey = false) => {
    lastError = message
    lastErrorIsKey = isKey
  }
  const denyList = createDenyList({
    config,
    clients,
    state: ctx.state,
    now,
    log: ctx.log,
    retry,
    onMassRevocation: (ids, reason) => ctx.onMassRevocation(ids, reason),
  })

  const environment = (name: string): AwsEnvironmentConfig => {
    const env = config.environments[name]
    if (!env) throw err.unavailable(`environment '${name}' is not configured for ${ctx.name}`)
    return env
  }

  /** The environment whose role a handle names (the config may have moved an environment to another role since). */
  const environmentOf = (input: RevokeInput): AwsEnvironmentConfig => {
    const arn = input.handle?.['role_arn']
    if (arn === undefined) return environment(input.environment)
    const env = Object.values(config.environments).find((e) => e.roleArn === arn)
    if (!env)
      throw err.unavailable(`role ${arn} is no longer configured for ${ctx.name}; cannot deny its sessions`)
    return env
  }

  return {
    name: ctx.name,
    type: 'aws',
    audience: ctx.name,
    external: true,
    supportsEnvironment: (env) => Object.hasOwn(config.environments, env),

    async setup() {
      await clients.sts() // resolves and checks the broker's key, so a bad secret shows at start
    },

    async issue(input) {
      const env = environment(input.environment)
      const cls = config.classes[input.operationClass]
      if (!cls)
        throw err.unavailable(`operation class '${input.operationClass}' has no IAM actions for ${ctx.name}`)
      // The broker's key first: when it cannot be read (a missing or undecryptable vault secret),
      // STS is never asked and the error names the secret's reference.
      const sts = await clients.sts().catch((e: unknown) => {
        failed(describe(e), e instanceof BrokerKeyError)
        throw err.unavailable(describe(e), e)
      })
      const name = attemptSessionName(input.sessionId, input.attempt)
      if (!(await denyList.startIssue(env, name))) {
        throw err.conflict(
          `credentials were already issued for this attempt of session ${input.sessionId}; never twice`,
        )
      }
      const policy = JSON.stringify(sessionPolicy(input.operationClass, cls.actions, env))
      const tags = [
        [TAG_KEYS.environment, input.environment],
        [TAG_KEYS.operationClass, input.operationClass],
        [TAG_KEYS.sessionId, input.sessionId],
        [TAG_KEYS.taskId, input.taskId],
        [TAG_KEYS.agent, input.agent],
      ].map(([Key, Value]) => ({ Key, Value: tagValue(Value as string) }))

      let duration = STS_MIN_SECONDS
      let out
      try {
        // Every retry uses the same RoleSessionName: a retry after a lost answer names the same session.
        out = await withRetries(
          () => {
            duration = durationFor(input.expiresAt, now(), config.maxSessionSeconds)
            return sts.send(
              new AssumeRoleCommand({
                RoleArn: env.roleArn,
                RoleSessionName: name,
                SourceIdentity: stsName(input.agent),
                DurationSeconds: duration,
                Policy: policy,
                Tags: tags,
                ...(env.externalId !== null && { ExternalId: env.externalId }),
              }),
            )
          },
          retry,
          (e, attempt) =>
            ctx.log.warn(
              { session: input.sessionId, attempt, err: describe(e) },
              'STS AssumeRole failed; retrying',
            ),
        )
      } catch (e) {
        // A definite refusal minted nothing; after transient failures an answer may have been lost.
        if (!isTransient(e)) await denyList.notIssued(env, name).catch(() => {})
        clients.noteFailure(e)
        failed(`STS AssumeRole on ${env.roleArn} failed: ${describe(e)}`)
        throw err.unavailable(`STS AssumeRole on ${env.roleArn} failed: ${describe(e)}`, e)
      }
      const c = out.Credentials
      if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
        throw err.unavailable(`STS AssumeRole on ${env.roleArn} returned no credentials`)
      }
      const stsExpiry = c.Expiration.getTime()
      const issuedAt = stsExpiry - duration * 1000
      await denyList.issued(env, name, issuedAt)
      // A deny-list overflow may have cut off this role's sessions while STS was answering.
      const cut = await denyList.cutoff(env)
      if (cut !== null && issuedAt < cut) {
        throw err.unavailable(
          `the sessions of ${env.roleArn} were cut off while these credentials were issued; request again`,
        )
      }
      failed(null)
      // Never later than the session's end, so SDKs refresh instead of using revoked keys.
      const expiration = iso(Math.min(input.expiresAt, stsExpiry))
      return {
        credentials: {
          access_key_id: c.AccessKeyId,
          secret_access_key: c.SecretAccessKey,
          session_token: c.SessionToken,
          expiration,
          region: config.region,
        },
        handle: {
          role_arn: env.roleArn,
          role_id: out.AssumedRoleUser?.AssumedRoleId?.split(':')[0] ?? '',
          session_name: name,
          access_key_id: c.AccessKeyId,
          issued_at: iso(issuedAt),
          expiration: iso(stsExpiry),
        },
      }
    },

    async revoke(input) {
      try {
        const h = input.handle
        if (h?.['expiration'] && Date.parse(h['expiration']) <= now()) return // expired at AWS by themselves
        const env = environmentOf(input)
        const roleId = async () => h?.['role_id'] || (await denyList.roleId(env))
        if (h?.['expiration'] && h['issued_at']) {
          const expiry = Date.parse(h['expiration'])
          if (expiry <= now()) return
          const cut = await denyList.cutoff(env)
          if (cut !== null && Date.parse(h['issued_at']) < cut) return // already denied by the cutoff
          // Handles written before attempts had names of their own name the session.
          const name = h['session_name'] || input.sessionId
          await denyList.deny(env, `${await roleId()}:${name}`, expiry)
          failed(null)
        } else {
          // Issuing never finished: credentials may exist if STS answered (or its answer was lost).
          // The attempt's name, and the session's own (what an earlier version issued under).
          const names = [input.sessionId]
          if (input.attempt) names.unshift(attemptSessionName(input.sessionId, input.attempt))
          for (const name of names) {
            const at = await denyList.issuedAt(env, name)
            if (at === null) continue // STS was never asked, or refused: nothing to deny
            // Unknown AWS issue time: no cutoff can be trusted to cover it.
            const expiry = at + config.maxSessionSeconds * 1000
            if (expiry <= now()) continue // expired at AWS by themselves
            await denyList.deny(env, `${await roleId()}:${name}`, expiry)
            failed(null)
          }
        }
      } catch (e) {
        const message = `revoking ${input.sessionId} failed: ${describe(e)}`
        failed(message, e instanceof BrokerKeyError)
        throw err.unavailable(message, e)
      }
    },

    async reap() {
      let n = 0
      let first: unknown = null
      for (const env of Object.values(config.environments)) {
        try {
          n += await denyList.reap(env)
        } catch (e) {
          failed(
            `pruning the deny list of ${env.roleArn} failed: ${describe(e)}`,
            e instanceof BrokerKeyError,
          )
          first ??= e // the other roles are still pruned
        }
      }
      if (first !== null) throw first
      return n
    },

    async health() {
      const t = now()
      if (!health || health.at + HEALTH_CACHE_MS <= t) {
        try {
          await (await clients.sts()).send(new GetCallerIdentityCommand({}))
          health = { at: t, error: null }
        } catch (e) {
          clients.noteFailure(e)
          const error =
            e instanceof BrokerKeyError ? describe(e) : `STS GetCallerIdentity failed: ${describe(e)}`
          health = { at: t, error }
        }
      }
      const error = health.error ?? lastError
      return { ok: error === null, error }
    },

    async secretRotated(changed) {
      if (rotationCovers(changed, config.credentialsRef)) {
        clients.reset()
        health = null
        if (lastErrorIsKey) failed(null) // the next use reads the new value and says again if it fails
      }
    },

    async close() {
      clients.close()
    },
  }
}
