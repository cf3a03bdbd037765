// In-memory store for `airlock dev` and single-process use. Same contract and tests as redis.ts;
// JavaScript runs each method to completion, which gives the same atomicity as the Lua scripts.
// The parts, each a file of memory/: sessions, locks, the audit log.
import { createWaiters } from './waiters.js'
import type { Store } from './types.js'
import { memoryAudit } from './memory/audit.js'
import { memoryLocks } from './memory/locks.js'
import { memorySessions } from './memory/sessions.js'
import { createMemoryState } from './memory/state.js'
import { memoryConsoleRecords } from './console-records.js'

export function createMemoryStore(clock: { now(): number } = { now: Date.now }): Store {
  const state = createMemoryState(clock)
  const leases = new Map<string, { owner: string; until: number }>()
  const waiters = createWaiters()

  return {
    kind: 'memory',
    async ping() {},
    async confirmWrites() {},
    async close() {
      waiters.wakeAll()
    },

    ...memorySessions(state),
    ...memoryLocks(state),
    ...memoryAudit(state, (id) => waiters.wake(id)),
    ...memoryConsoleRecords(clock),

    async acquireLease(name, owner, ttlMs) {
      const now = clock.now()
      const cur = leases.get(name)
      if (cur && cur.until > now && cur.owner !== owner) return false
      leases.set(name, { owner, until: now + ttlMs })
      return true
    },

    publishChange(sessionId) {
      waiters.wake(sessionId)
    },
    async watchChange(sessionId, ms, signal) {
      return { changed: waiters.wait(sessionId, ms, signal) }
    },
  }
}
