// Wires a broker from a config: store, keys, audit, runtime, services, workers, HTTP app.
// The CLI (serve, dev) and the tests build brokers through here, so they run the same code.
import type { Logger } from 'pino'
import { hostname } from 'node:os'
import { buildApp, type App } from './app.js'
import { createApprovalService } from './approvals/service.js'
import { openBackend, type Backend } from './backend.js'
import { createAuditLog } from './audit/log.js'
import { systemClock, type Clock } from './clock.js'
import type { AirlockConfig } from './config/types.js'
import { newChainId } from './ids.js'
import { createLockService } from './locks/service.js'
import { createLogger } from './log.js'
import { createMetrics } from './metrics.js'
import { startMetricsListener, type MetricsListener } from './metrics-listener.js'
import { buildRuntime, type Runtime } from './runtime.js'
import { createReloader } from './reload.js'
import { createDeferredSecrets } from './secrets/deferred.js'
import { createSecretSource } from './secrets/source.js'
import { createSlackSide } from './slack/wiring.js'
import { createDecisionsInFlight } from './sessions/in-flight.js'
import { createMassRevocation } from './sessions/mass-revocation.js'
import type { Queue } from './queue/index.js'
import { createCounter } from './ratelimit/index.js'
import { createRevoker, revocationQueue, type RevocationJob } from './sessions/revoker.js'
import { createSessionService, type SessionService } from './sessions/service.js'
import { deploymentId } from './store/deployment.js'
import { providerStateFor } from './store/provider-state.js'
import type { Store } from './store/types.js'
import type { SigningKey } from './tokens/keys.js'
import { KEYRING_PATH } from './vault/keyring.js'
import { signingKeys, vaultFor, type Signing } from './vault/setup.js'
import type { Vault } from './vault/vault.js'
import { createTokenService } from './tokens/tokens.js'
import { createSweeper } from './workers/sweeper.js'
import { createExpiry } from './sessions/expiry.js'

export interface BrokerOptions {
  config: AirlockConfig
  logger?: Logger
  /** Only `airlock dev` and tests may run without Redis. */
  allowMemoryStore?: boolean
}

/** What tests and benchmarks set besides the config; `airlock serve` and `airlock dev` set none. */
export interface BrokerHooks {
  clock?: Clock
  /** Where audit lines go (default stdout); ignored when audit.stdout is false. */
  auditOut?: (line: string) => void
  /** A fixed signing key instead of tokens.signing_key or the vault's key ring. */
  signingKey?: SigningKey
  /** false: the sweeper does not run on its own (sweepOnce() still does). */
  sweeper?: boolean
  sweepEveryMs?: number
  /** Backoff of failed Slack calls (default: 1 s doubling to 60 s). */
  slackRetry?: { baseMs?: number; maxMs?: number }
  /** How long a reload waits for decisions taken under the config it replaces (default 5 s). */
  reloadSettleMs?: number
}

export interface RunningBroker {
  app: App
  store: Store
  /** Where shared state lives (Redis, or memory for `airlock dev` and tests). */
  backend: Backend
  /** Provider revocations that failed, waiting to be retried. */
  revocations: Queue<RevocationJob>
  runtime: () => Runtime
  chain: string
  /** The port of server.metrics.listen once bound; null when /metrics is on the API port. */
  metricsPort: number | null
  sweepOnce(): Promise<void>
  reload(config: AirlockConfig): Promise<void>
  close(): Promise<void>
}

export async function buildBroker(opts: BrokerOptions, hooks: BrokerHooks = {}): Promise<RunningBroker> {
  const { config } = opts
  const clock = hooks.clock ?? systemClock
  const log = opts.logger ?? createLogger()
  const metrics = createMetrics({ defaults: true })

  const { backend, store } = await openBackend(config, {
    clock,
    allowMemory: opts.allowMemoryStore === true,
    durability: {
      acks: config.store.replicaAcks,
      timeoutMs: config.store.replicaAckTimeoutMs,
      onShortfall: () => metrics.replicaAckShortfalls.inc(),
    },
    warn: (w) => log.warn(w),
  })

  let vault: Vault | null = null
  let signing: Signing
  // Retired signing keys stay published as long as the tokens they signed may live: the longest
  // tokens.max_ttl this broker has run with (a reload may raise it; lowering it leaves older tokens).
  let keyWindowMs = config.tokens.maxTtlSeconds * 1000
  try {
    vault = await vaultFor(config, clock, backend)
    signing = hooks.signingKey
      ? { keys: { active: hooks.signingKey, retired: [], activeSince: clock.now() }, keyring: null }
      : await signingKeys(config, vault, clock, () => keyWindowMs)
  } catch (e) {
    await vault?.close()
    await store.close()
    throw e
  }
  const tokens = createTokenService({
    issuer: config.server.publicUrl,
    clock,
    active: signing.keys.active,
    retired: signing.keys.retired,
  })
  const { keyring } = signing
  const reloadKeys = async () => {
    if (!keyring) return
    const ks = await keyring.load()
    tokens.setKeys(ks.active, ks.retired)
  }

  const chain = newChainId()
  const out = hooks.auditOut ?? ((line: string) => void process.stdout.write(`${line}\n`))
  const audit = createAuditLog({
    store,
    chain,
    clock,
    retentionMs: () => runtime().config.audit.retentionMs,
    out: config.audit.stdout ? out : null,
    checkpointEveryMs: config.audit.checkpointEveryMs,
    onFailure: (e) => {
      metrics.auditFailures.inc()
      log.error({ err: (e as Error).message }, 'audit write failed')
    },
    newChain: newChainId,
    onChainLost: (lost, head) =>
      log.error(
        { chain: lost, seq: head.seq },
        'the audit chain head vanished from the store (Redis lost data?); continuing on a new chain',
      ),
  })

  // What providers tag their outside objects with (e.g. postgres role names). Stable per deployment:
  // every replica reads the same id from Redis, whatever its host, so each recognises (and reaps)
  // the others' leftovers, and another deployment on the same backend (even with the same key
  // prefix) has another. Providers may let the config override it (postgres: deployment_id).
  const instanceId = await deploymentId(backend).catch(async (e: unknown) => {
    await vault?.close()
    await store.close()
    throw e
  })
  const secrets = createSecretSource({ baseDir: config.baseDir, env: process.env, vault })
  const deferred = createDeferredSecrets({ secrets: vault ? secrets : null, log, metrics })
  await deferred.resolve(config)
  // Provider state and mass revocation (ProviderContext.state / onMassRevocation; the aws provider).
  let sessionsRef: SessionService | null = null
  const providerDeps = {
    providerState: providerStateFor(backend),
    onMassRevocation: createMassRevocation({ sessions: () => sessionsRef, audit, log }),
    sealer: vault?.sealer ?? null,
  }
  let current = await buildRuntime(config, { clock, log, instanceId, secrets, ...providerDeps })
  const runtime = () => current
  const inFlight = createDecisionsInFlight(runtime)
  const revocations = revocationQueue(backend)
  const revoker = createRevoker({
    queue: revocations,
    runtime,
    clock,
    metrics,
    log,
    retired: (n) => reloader.retired(n),
  })
  // Approvals: the Slack notifier hears of requests going pending and sessions ending.
  const slack = createSlackSide({
    backend,
    store,
    runtime,
    audit,
    clock,
    log,
    metrics,
    retry: hooks.slackRetry,
  })
  const onChange = slack.notifier.changed
  const sessions = createSessionService({
    store,
    runtime,
    inFlight,
    tokens,
    audit,
    clock,
    metrics,
    revoker,
    log,
    onChange,
  })
  sessionsRef = sessions
  const locks = createLockService({ store, sessions, audit, clock, runtime })
  const approvals = createApprovalService({ sessions, store, runtime, inFlight, audit, clock, log })
  const broker = {
    runtime,
    store,
    sessions,
    locks,
    tokens,
    audit,
    metrics,
    clock,
    vault,
    keyring,
    approvals,
    slack,
    gatewayCalls: createCounter(backend, 'gatewayCalls', 60_000),
  }

  // A deferred secret written, rotated or deleted in the vault takes effect at once; one still
  // missing is retried every second (a missed notification heals too). Queued Slack messages go
  // out as soon as the bot token is there.
  let vaultChanges = 0
  let vaultChangesAtBuild = 0
  const refreshDeferred = () =>
    deferred.resolve(current.config).then((changed) => {
      if (changed) void slack.notifier.runOnce()
    })
  const deferredTimer = setInterval(() => {
    if (deferred.pending(current.config)) void refreshDeferred()
  }, 1000)
  deferredTimer.unref()

  // Every replica follows vault changes: new signing keys, deferred config secrets, and rotated
  // provider secrets.
  vault?.onChange((path) => {
    vaultChanges++
    if (deferred.concerns(current.config, path)) void refreshDeferred()
    if (path === KEYRING_PATH || path === '*') {
      reloadKeys().catch((e: unknown) =>
        log.error({ err: (e as Error).message }, 'reloading signing keys failed'),
      )
    }
    for (const p of current.providers.values()) {
      p.secretRotated(path === '*' ? '*' : `vault:${path}`).catch((e: unknown) =>
        log.warn(
          { provider: p.name, err: (e as Error).message },
          'provider could not take the rotated secret',
        ),
      )
    }
  })
  // Also on a timer: retired keys leave the JWKS once their tokens expired, and a missed
  // notification (a Redis reconnect) heals within a minute.
  const keyTimer = keyring
    ? setInterval(
        () =>
          void reloadKeys().catch((e: unknown) =>
            log.warn({ err: (e as Error).message }, 'key refresh failed'),
          ),
        60_000,
      )
    : null
  keyTimer?.unref()
  const app = await buildApp({ broker, backend, logger: log })

  const exposure = config.server.metrics
  let metricsListener: MetricsListener | null = null
  if (exposure.mode === 'listen') {
    metricsListener = await startMetricsListener(metrics.registry, exposure.host, exposure.port).catch(
      async (e: unknown) => {
        await app.close()
        await tokens.close()
        await vault?.close()
        await store.close()
        throw new Error(
          `server.metrics.listen: cannot listen on ${exposure.host}:${exposure.port} (${(e as Error).message})`,
        )
      },
    )
  }

  const expiry = createExpiry({
    store,
    records: sessions.records,
    revoker,
    runtime,
    clock,
    metrics,
    log,
    onChange,
  })
  const sweeper = createSweeper({
    store,
    expiry,
    locks,
    revoker,
    runtime,
    clock,
    metrics,
    log,
    owner: chain,
    intervalMs: hooks.sweepEveryMs,
    tasks: keyring
      ? [
          async () => {
            const rotated = await keyring.rotateIfDue(runtime().config.tokens.rotateEveryMs)
            if (!rotated) return
            await reloadKeys()
            await audit.record({
              type: 'keys.rotated',
              actor: 'airlock',
              details: { ...rotated, scheduled: true },
            })
          },
        ]
      : [],
  })
  await audit.record({
    type: 'broker.started',
    actor: 'airlock',
    details: { chain, host: hostname(), pid: process.pid },
  })
  const reloader = createReloader({
    current: runtime,
    async build(next) {
      vaultChangesAtBuild = vaultChanges
      await deferred.resolve(next, current.config)
      return buildRuntime(next, { clock, log, instanceId, secrets, ...providerDeps })
    },
    async swap(next) {
      current = next
      // A vault change while the new config resolved may have reached the old one only.
      if (vaultChanges !== vaultChangesAtBuild) await refreshDeferred()
      const window = Math.max(keyWindowMs, next.config.tokens.maxTtlSeconds * 1000)
      if (window !== keyWindowMs) {
        keyWindowMs = window
        // The new config is in force either way; the key timer retries within a minute.
        await reloadKeys().catch((e: unknown) =>
          log.warn({ err: (e as Error).message }, 'reloading signing keys failed'),
        )
      }
    },
    sessions: () => sessions,
    inFlight,
    settleMs: hooks.reloadSettleMs,
    audit,
    log,
  })
  if (hooks.sweeper !== false) sweeper.start()
  slack.notifier.start()

  return {
    app,
    store,
    backend,
    revocations,
    runtime,
    chain,
    metricsPort: metricsListener?.port ?? null,
    sweepOnce: () => sweeper.runOnce(),
    reload: (next) => reloader.reload(next),
    async close() {
      if (keyTimer) clearInterval(keyTimer)
      clearInterval(deferredTimer)
      await sweeper.stop()
      await slack.notifier.stop()
      await app.close()
      await metricsListener?.close()
      await tokens.close()
      sessions.close()
      audit.close()
      for (const p of current.providers.values()) await p.close().catch(() => {})
      await reloader.close()
      await vault?.close()
      await store.close()
    },
  }
}
