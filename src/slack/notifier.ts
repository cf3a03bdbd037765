// Keeps each approval request's Slack message true. A session change only queues "sync this
// session" in the durable outbox (one Redis write, never a Slack call), so a slow or dead Slack never
// blocks a request or an approval. The worker then posts the message (first time) or updates it,
// rendering the session's current state; a failure is audited, counted and retried with backoff.
import type { FastifyBaseLogger } from 'fastify'
import type { AuditLog } from '../audit/log.js'
import type { Clock } from '../clock.js'
import type { SlackConfig } from '../config/types.js'
import type { Runtime } from '../runtime.js'
import { effectiveStatus, type SessionRecord } from '../domain/index.js'
import { QUEUES } from '../store/keys.js'
import type { SessionStore } from '../store/types.js'
import { createSlackClient, SlackFailure, type SlackClient } from './client.js'
import type { SlackMetrics } from './metrics.js'
import type { SlackJob, SlackOutbox } from './outbox.js'
import { escapeMrkdwn, renderRequest } from './render.js'
import { isDestructive } from '../policy/decide.js'

export interface NotifierDeps {
  outbox: SlackOutbox
  store: Pick<SessionStore, 'getSession'>
  runtime: () => Runtime
  audit: AuditLog
  clock: Clock
  log: FastifyBaseLogger
  metrics: SlackMetrics
  /** First retry after about `baseMs`, doubling up to `maxMs` (defaults 1 s and 60 s). */
  retry?: { baseMs?: number; maxMs?: number }
  /** How often the worker looks for due retries (default 1 s). */
  pollMs?: number
  /** For tests: another client factory. */
  client?: (cfg: SlackConfig, token: string) => SlackClient
}

const BATCH = 20

export function createSlackNotifier(deps: NotifierDeps) {
  const { outbox, clock, log, metrics } = deps
  const baseMs = deps.retry?.baseMs ?? 1000
  const maxMs = deps.retry?.maxMs ?? 60_000
  const backoff = (attempts: number) =>
    Math.min(maxMs, baseMs * 2 ** Math.min(attempts - 1, 20)) * (0.5 + Math.random() / 2)

  // One client per Slack config: a reload that changes the token or URL gets a new one. Without a
  // token yet (a vault: reference not resolved) nothing is sent: changes stay queued until it is.
  let client: { cfg: SlackConfig; c: SlackClient } | null = null
  const slack = (): { cfg: SlackConfig; c: SlackClient } | null => {
    const cfg = deps.runtime().config.slack
    if (!cfg?.botToken) return null
    if (client?.cfg !== cfg) client = { cfg, c: (deps.client ?? createSlackClient)(cfg, cfg.botToken) }
    return client
  }

  let timer: NodeJS.Timeout | null = null
  let draining: Promise<void> | null = null
  let again = false
  let stopped = false

  /** Runs the queue now; a kick while running makes it run once more. */
  function kick(): Promise<void> {
    if (stopped) return Promise.resolve()
    if (draining) {
      again = true
      return draining
    }
    draining = (async () => {
      do {
        again = false
        await drain().catch((e: unknown) =>
          log.warn({ err: (e as Error).message }, 'slack outbox unavailable; retrying'),
        )
      } while (again && !stopped)
    })().finally(() => (draining = null))
    return draining
  }

  async function drain() {
    if (!slack()) return
    for (;;) {
      const jobs = await outbox.claim(clock.now(), QUEUES.slack.leaseMs, BATCH)
      for (const job of jobs) await sync(job)
      if (jobs.length < BATCH) break
    }
    metrics.backlog.set(await outbox.backlog())
  }

  const destructive = (rec: SessionRecord) =>
    isDestructive(deps.runtime().config.operationClasses, rec.operation_class)

  /** How long the message reference is worth keeping: as long as the record can exist. */
  const refExpiry = (rec: SessionRecord) => {
    const cfg = deps.runtime().config
    return (
      rec.created_at +
      cfg.approvals.timeoutMs +
      cfg.approvals.claimWindowMs +
      cfg.tokens.maxTtlSeconds * 1000 +
      cfg.store.retentionMs
    )
  }

  async function sync(job: SlackJob) {
    const s = slack()
    const rec = await deps.store.getSession(job.session)
    if (!s || !rec) return outbox.finish(job, clock.now())
    const now = clock.now()
    const ref = await outbox.getMessage(rec.id)
    const live = ['pending_approval', 'approved', 'active'].includes(effectiveStatus(rec, now))
    // A request that ended before Slack ever heard of it needs no message: the audit log has it.
    if (!ref && !live) return outbox.finish(job, now)
    const method = ref ? 'chat.update' : 'chat.postMessage'
    try {
      const message = renderRequest(rec, { now, destructive: destructive(rec) })
      if (ref) await s.c.update(ref, message)
      else await outbox.setMessage(rec.id, await s.c.post(message), refExpiry(rec))
      metrics.calls.inc({ method, result: 'ok' })
      await outbox.finish(job, clock.now())
    } catch (e) {
      if (!(e instanceof SlackFailure)) throw e // the outbox itself failed: the lease brings the job back
      metrics.failures.inc({ method })
      const { code, retryable, retryAfterMs } = e.detail
      const attempts = job.attempts + 1
      const delay = retryable ? Math.max(backoff(attempts), retryAfterMs ?? 0) : null
      metrics.calls.inc({ method, result: retryable ? 'retry' : 'dropped' })
      log.warn({ session: rec.id, method, error: code, attempts, retry_in_ms: delay }, 'slack call failed')
      await deps.audit
        .record({
          type: 'slack.failed',
          actor: 'airlock',
          session_id: rec.id,
          details: {
            method,
            error: code,
            attempts,
            ...(delay === null ? { gave_up: true } : { retry_in_ms: Math.round(delay) }),
          },
        })
        .catch(() => log.error({ session: rec.id }, 'audit write failed for a slack failure'))
      if (delay === null) await outbox.finish(job, clock.now())
      else await outbox.retry(job, { ...job, attempts, lastError: code }, clock.now() + delay, clock.now())
    }
  }

  return {
    /** Queues a sync of the session's message. Never throws: Slack is a notification channel. */
    async changed(rec: SessionRecord): Promise<void> {
      // Sessions granted without approval never had a message, so their end needs none either.
      if (stopped || rec.approvals_required === 0 || !deps.runtime().config.slack) return
      try {
        await outbox.enqueue(rec.id, clock.now())
      } catch (e) {
        metrics.failures.inc({ method: 'enqueue' })
        log.error({ session: rec.id, err: (e as Error).message }, 'could not queue the Slack message')
        return
      }
      void kick()
    },

    /** An ephemeral reply to one user (a refused click). Best effort, never queued, never throws. */
    async tell(channel: string, user: string, text: string): Promise<void> {
      const s = slack()
      if (!s) return
      try {
        await s.c.ephemeral(channel, user, escapeMrkdwn(text))
        metrics.calls.inc({ method: 'chat.postEphemeral', result: 'ok' })
      } catch (e) {
        metrics.failures.inc({ method: 'chat.postEphemeral' })
        metrics.calls.inc({ method: 'chat.postEphemeral', result: 'dropped' })
        const code = e instanceof SlackFailure ? e.detail.code : 'unknown_error'
        log.warn({ method: 'chat.postEphemeral', error: code }, 'slack call failed')
      }
    },

    /** Runs the queue once now (tests, and after start). */
    runOnce: kick,

    start(): void {
      timer = setInterval(() => void kick(), deps.pollMs ?? 1000)
      timer.unref()
    },

    async stop(): Promise<void> {
      stopped = true
      if (timer) clearInterval(timer)
      timer = null
      await draining
    },
  }
}

export type SlackNotifier = ReturnType<typeof createSlackNotifier>
