// The two stores the contract suites run against, and how each makes a second replica or lets time pass.
import { randomBytes } from 'node:crypto'
import { expect, inject, vi } from 'vitest'
import { redisKeys } from '../../src/store/keys.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { createRedisStore, type RedisStore } from '../../src/store/redis.js'
import type { Store } from '../../src/store/types.js'
import { deletePrefix, TestClock } from '../helper.js'

/** What differs between the two stores: where time comes from and how a second replica is made. */
export interface Fixture {
  store: Store
  /** "Now" for the records a test builds. */
  now(): number
  /** Another handle on the same data (Redis: a second instance on the same prefix). */
  peer(): Promise<Store>
  /** Waits (or moves the clock) until a lease taken with `ttlMs` has lapsed. */
  expireLease(name: string, ttlMs: number): Promise<void>
  /** Lets store time pass every audit event appended so far; returns that new store time (ms). */
  passAuditTime(): Promise<number>
  close(): Promise<void>
}

export interface Kind {
  name: string
  open(): Promise<Fixture>
}

export const memoryKind: Kind = {
  name: 'memory',
  async open() {
    const clock = new TestClock()
    const store = createMemoryStore(clock)
    return {
      store,
      now: () => clock.now(),
      peer: async () => store,
      async expireLease(_name, ttlMs) {
        clock.advance(ttlMs + 1)
      },
      async passAuditTime() {
        clock.advance(1000)
        return clock.now()
      },
      close: () => store.close(),
    }
  },
}

export const redisKind: Kind = {
  name: 'redis',
  async open() {
    const url = inject('redisUrl')
    const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`
    const keys = redisKeys(prefix)
    const store: RedisStore = await createRedisStore(url, prefix)
    const peers: Store[] = []
    const serverMs = async () => {
      const [s, us] = await store.redis.time()
      return Number(s) * 1000 + Math.floor(Number(us) / 1000)
    }
    return {
      store,
      now: () => Date.now(),
      async peer() {
        const p = await createRedisStore(url, prefix)
        peers.push(p)
        return p
      },
      async expireLease(name) {
        await vi.waitFor(async () => expect(await store.redis.pttl(keys.lease(name))).toBe(-2), {
          timeout: 5000,
          interval: 10,
        })
      },
      async passAuditTime() {
        // Stream ids are the server's ms; wait for its clock to tick past the last append.
        const last = await serverMs()
        let now = last
        await vi.waitFor(
          async () => {
            now = await serverMs()
            expect(now).toBeGreaterThan(last)
          },
          { timeout: 5000, interval: 2 },
        )
        return now
      },
      async close() {
        for (const p of peers) await p.close()
        await store.close()
        await deletePrefix(url, prefix)
      },
    }
  },
}
