// Background work that must happen even when no request arrives: expiring sessions (including
// those that expired while every broker was down), retrying failed revocations, dropping expired
// locks, rotating keys, trimming the audit log and reaping provider leftovers.
// Work is done in passes. Each pass gives every job its turn with a budget (items and time), so a
// large backlog of one kind never starves the others, and yields between batches; a pass that
// stopped at a budget is followed at once by the next. Expiry and revocation retries claim their
// work atomically, so every replica shares them; the rest runs on the one replica holding the lease.
import { setImmediate as yieldToEvents } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import { readAuditEvent } from '../audit/read.js'
import type { Clock } from '../clock.js'
import type { LockService } from '../locks/service.js'
import type { Metrics } from '../metrics.js'
import type { Runtime } from '../runtime.js'
import type { Expiry } from '../sessions/expiry.js'
import { isFinal } from '../domain/index.js'
import type { Revoker } from '../sessions/revoker.js'
import type { Store } from '../store/types.js'

export interface SweeperDeps {
  store: Store
  expiry: Expiry
  locks: LockService
  revoker: Revoker
  runtime: () => Runtime
  clock: Clock
  metrics: Metrics
  log: FastifyBaseLogger
  owner: string
  intervalMs?: number
  /** More work for the lease holder each pass (e.g. scheduled key rotation). */
  tasks?: (() => Promise<void>)[]
}

const LEASE_MS = 5000
const HOUSEKEEPING_MS = 60_000
// Reaping is what catches a provider object whose session record is gone or ended without its
// revocation (a crash in between); 30 s keeps such leftovers under a minute (postgres: 60 s).
const REAP_MS = 30_000

/** What one pass may do of each job before it yields to the next. */
export const BUDGET = {
  expiryBatch: 250,
  expiryLanes: 4,
  expiryItems: 20_000,
  expiryMs: 500,
  retries: 100,
  auditRows: 10_000,
  indexBatches: 10,
} as const

export function createSweeper(deps: SweeperDeps) {
  const { store, clock, log, metrics } = deps
  let timer: NodeJS.Timeout | null = null
  let running: Promise<boolean> | null = null
  let stopped = false
  let lastHousekeeping = 0
  let lastReap = 0
  /** Housekeeping that stopped at its budget and goes on next pass. */
  let trimming = false
  const failing = new Set<string>()

  /** Runs one job; a failure is logged (once until it recovers) and never stops the other jobs. */
  async function job<T>(name: string, f: () => Promise<T>, fallback: T): Promise<T> {
    try {
      const r = await f()
      if (failing.delete(name)) log.info({ job: name }, 'sweeper job recovered')
      return r
    } catch (e) {
      if (!failing.has(name))
        log.error({ job: name, err: (e as Error).message }, 'sweeper job failed; retrying')
      failing.add(name)
      return fallback
    }
  }

  /**
   * Expires due sessions batch by batch within the pass's budget; true when more are due. Several
   * batches are in flight at a time, so one's round trips overlap the others' work.
   */
  async function expire(): Promise<boolean> {
    const started = performance.now()
    let items = 0
    let more = false
    const lane = async () => {
      while (!stopped) {
        const r = await deps.expiry.expireBatch(BUDGET.expiryBatch)
        if (r.due < BUDGET.expiryBatch) return
        items += BUDGET.expiryBatch
        if (items >= BUDGET.expiryItems || performance.now() - started >= BUDGET.expiryMs) {
          more = true
          return
        }
        await yieldToEvents()
      }
    }
    await Promise.all(Array.from({ length: BUDGET.expiryLanes }, lane))
    return more
  }

  async function reap() {
    const isLive = async (ids: string[]) => {
      const recs = await store.getSessions(ids)
      const now = clock.now()
      const live = new Set<string>()
      for (const r of recs) if (r && !isFinal(r.status) && r.expires_at > now) live.add(r.id)
      return live
    }
    for (const p of deps.runtime().providers.values()) {
      const n = await p.reap(isLive).catch((e: unknown) => {
        log.warn({ provider: p.name, err: (e as Error).message }, 'reap failed')
        return 0
      })
      if (n > 0) log.info({ provider: p.name, reaped: n }, 'reaped leftovers of unknown sessions')
    }
  }

  /** Lock expiry and trimming; true when a trim stopped at its budget. */
  async function trim(now: number): Promise<boolean> {
    const cfg = deps.runtime().config
    await job('lock expiry', () => deps.locks.dropExpired(), undefined)
    const listedBefore =
      now -
      cfg.store.retentionMs -
      cfg.tokens.maxTtlSeconds * 1000 -
      cfg.approvals.timeoutMs -
      cfg.approvals.claimWindowMs
    const index = await job(
      'session index trim',
      async () => {
        for (let i = 0; i < BUDGET.indexBatches; i++) {
          if ((await store.trimSessionIndex(listedBefore)) < 1000) return false
          await yieldToEvents()
        }
        return true
      },
      false,
    )
    const audit = await job(
      'audit trim',
      async () =>
        (await store.trimAudit(now - cfg.audit.retentionMs, readAuditEvent, BUDGET.auditRows)) >=
        BUDGET.auditRows,
      false,
    )
    return index || audit
  }

  async function measure() {
    const now = clock.now()
    const [counts, backlog, lag] = await Promise.all([
      store.countLive(),
      deps.revoker.backlog(),
      store.expiryLag(now),
    ])
    metrics.live.set(counts.live)
    metrics.pending.set(counts.pending)
    metrics.revocationBacklog.set(backlog)
    metrics.expiryBacklog.set(lag.due)
    metrics.expiryOldestOverdue.set(lag.oldestDeadline === null ? 0 : (now - lag.oldestDeadline) / 1000)
  }

  /** One pass; true when some job stopped at its budget (the next pass follows at once). */
  async function pass(): Promise<boolean> {
    let more = await job('expiry', expire, false)
    if (stopped) return false
    const retried = await job('revocation retries', () => deps.revoker.retryDue(BUDGET.retries), 0)
    more ||= retried >= BUDGET.retries
    if (!stopped && (await job('lease', () => store.acquireLease('sweeper', deps.owner, LEASE_MS), false))) {
      for (const [i, task] of (deps.tasks ?? []).entries()) await job(`task ${i + 1}`, task, undefined)
      const now = clock.now()
      if (trimming || now - lastHousekeeping >= HOUSEKEEPING_MS) {
        lastHousekeeping = now
        trimming = await trim(now)
        more ||= trimming
      }
      if (now - lastReap >= REAP_MS) {
        lastReap = now
        await job('reap', reap, undefined)
      }
    }
    await job('metrics', measure, undefined)
    return more
  }

  const runPass = (): Promise<boolean> => (running ??= pass().finally(() => (running = null)))
  const schedule = (ms: number) => {
    if (stopped) return
    timer = setTimeout(() => {
      void runPass().then((more) => schedule(more ? 0 : (deps.intervalMs ?? 1000)))
    }, ms)
    timer.unref()
  }

  return {
    /** One pass now (tests and start-up). */
    runOnce: async (): Promise<void> => void (await runPass()),
    start() {
      stopped = false
      schedule(deps.intervalMs ?? 1000)
    },
    /** Stops after the current batch; resolves once the pass ended. */
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      timer = null
      await running
    },
  }
}
