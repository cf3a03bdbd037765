// Background work that must happen even when no request arrives: expiring sessions (including
// those that expired while every broker was down), retrying failed revocations, dropping expired
// locks, trimming the audit log and reaping provider leftovers. One replica at a time holds the
// lease; the others stand by and take over within a lease period if it dies.
import type { FastifyBaseLogger } from 'fastify'
import { parseAuditJson } from '../audit/read.js'
import type { Clock } from '../clock.js'
import type { LockService } from '../locks/service.js'
import type { Metrics } from '../metrics.js'
import type { Runtime } from '../runtime.js'
import { isFinal } from '../sessions/model.js'
import type { Revoker } from '../sessions/revoker.js'
import type { SessionService } from '../sessions/service.js'
import type { Store } from '../store/types.js'

export interface SweeperDeps {
  store: Store
  sessions: SessionService
  locks: LockService
  revoker: Revoker
  runtime: () => Runtime
  clock: Clock
  metrics: Metrics
  log: FastifyBaseLogger
  owner: string
  intervalMs?: number
  /** More work for the lease holder each tick (e.g. scheduled key rotation). */
  tasks?: (() => Promise<void>)[]
}

const LEASE_MS = 5000
const HOUSEKEEPING_MS = 60_000
// Reaping is what catches a provider object whose session record is gone or ended without its
// revocation (a crash in between); 30 s keeps such leftovers under a minute (postgres: 60 s).
const REAP_MS = 30_000

export function createSweeper(deps: SweeperDeps) {
  const { store, sessions, clock, log } = deps
  let timer: NodeJS.Timeout | null = null
  let running: Promise<void> | null = null
  let lastHousekeeping = 0
  let lastReap = 0
  let failing = false

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

  async function tick(): Promise<void> {
    try {
      if (!(await store.acquireLease('sweeper', deps.owner, LEASE_MS))) return
      const now = clock.now()
      for (;;) {
        const due = await store.dueSessionIds(clock.now(), 200)
        for (const id of due) await sessions.expire(id)
        if (due.length < 200) break
      }
      await deps.revoker.retryDue()
      for (const task of deps.tasks ?? []) await task()
      if (now - lastHousekeeping >= HOUSEKEEPING_MS) {
        lastHousekeeping = now
        const cfg = deps.runtime().config
        await deps.locks.dropExpired()
        await store.trimSessionIndex(
          now - cfg.store.retentionMs - cfg.tokens.maxTtlSeconds * 1000 - cfg.approvals.timeoutMs,
        )
        await store.trimAudit(now - cfg.audit.retentionMs, parseAuditJson)
      }
      if (now - lastReap >= REAP_MS) {
        lastReap = now
        await reap()
      }
      const [counts, backlog] = await Promise.all([store.countLive(), store.revocationBacklog()])
      deps.metrics.live.set(counts.live)
      deps.metrics.pending.set(counts.pending)
      deps.metrics.revocationBacklog.set(backlog)
      if (failing) log.info('sweeper recovered')
      failing = false
    } catch (e) {
      if (!failing) log.error({ err: (e as Error).message }, 'sweeper failed; retrying')
      failing = true
    }
  }

  return {
    /** One pass now (tests and start-up). */
    runOnce: (): Promise<void> => (running ??= tick().finally(() => (running = null))),
    start() {
      timer = setInterval(
        () => void (running ??= tick().finally(() => (running = null))),
        deps.intervalMs ?? 1000,
      )
      timer.unref()
    },
    async stop() {
      if (timer) clearInterval(timer)
      timer = null
      await running
    },
  }
}
