// The stores the contract suites run against, and how each makes a second replica or lets time pass.
import { randomBytes } from 'node:crypto'
import { expect, inject, vi } from 'vitest'
import type { RedisConnection } from '../../src/config/types.js'
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
  /** The store's `kind` (default: name). */
  storeKind?: Store['kind']
  open(): Promise<Fixture>
}

/** The Redis store on `target` (a URL or a topology); `cleanup` deletes a prefix's keys. */
export function redisKind(
  name: string,
  target: () => RedisConnection | string,
  cleanup: (prefix: string) => Promise<void>,
): Kind {
  return {
    name,
    storeKind: 'redis',
    async open() {
      const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`
      const keys = redisKeys(prefix)
      const store: RedisStore = await createRedisStore(target(), prefix)
      const peers: Store[] = []
      const serverMs = async () => {
        const [s, us] = await store.redis.time()
        return Number(s) * 1000 + Math.floor(Number(us) / 1000)
      }
      return {
        store,
        now: () => Date.now(),
        async peer() {
          const p = await createRedisStore(target(), prefix)
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
          await cleanup(prefix)
        },
      }
    },
  }
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

/** The Redis store on the test run's own redis-server. */
export const localRedisKind: Kind = redisKind(
  'redis',
  () => inject('redisUrl'),
  (prefix) => deletePrefix(inject('redisUrl'), prefix),
)
