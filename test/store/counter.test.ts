// The counters (src/ratelimit) behind the per-agent API limit and the gateway's per-session limit:
// the same suite in memory and on one Redis, where two replicas share one budget.
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import type { Backend } from '../../src/backend.js'
import { memoryCounter } from '../../src/ratelimit/memory.js'
import { createCounter, type Counter } from '../../src/ratelimit/index.js'
import { connectRedis, openRedis, urlConnection, type RedisClient } from '../../src/redis/client.js'
import { deletePrefix } from '../helper.js'

const WINDOW = 60_000

interface Kind {
  name: string
  /** A counter, and another replica's counter over the same windows (memory: the same one). */
  open(): Promise<{ counter: Counter; peer: Counter }>
}

const clients: RedisClient[] = []
const prefixes: string[] = []
const url = inject('redisUrl')

const kinds: Kind[] = [
  {
    name: 'memory',
    async open() {
      const backend: Backend = { kind: 'memory', clock: { now: Date.now } }
      const counter = createCounter(backend, 'gatewayCalls', WINDOW)
      return { counter, peer: counter }
    },
  },
  {
    name: 'Redis',
    async open() {
      const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`
      prefixes.push(prefix)
      const conn = urlConnection(url)
      const open = async () => {
        const redis = openRedis(conn)
        clients.push(redis)
        await connectRedis(redis)
        return createCounter({ kind: 'redis', redis, conn, prefix }, 'gatewayCalls', WINDOW)
      }
      return { counter: await open(), peer: await open() }
    },
  },
]

afterAll(async () => {
  for (const c of clients) c.disconnect()
  for (const p of prefixes) await deletePrefix(url, p)
})

const takeAll = async (counters: Counter[], key: string, max: number, n: number) =>
  Promise.all(Array.from({ length: n }, (_, i) => (counters[i % counters.length] as Counter).take(key, max)))

describe.each(kinds)('$name counter', (kind) => {
  it('counts each take; past the limit the count says so, and the window has a reset time', async () => {
    const { counter } = await kind.open()
    const taken = []
    for (let i = 0; i < 5; i++) taken.push(await counter.take('k', 3))
    expect(taken.map((t) => t.count > 3)).toEqual([false, false, false, true, true])
    for (const t of taken) {
      expect(t.resetMs).toBeGreaterThan(0)
      expect(t.resetMs).toBeLessThanOrEqual(WINDOW)
    }
  })

  it('keys have their own windows', async () => {
    const { counter } = await kind.open()
    await takeAll([counter], 'a', 2, 3)
    expect((await counter.take('b', 2)).count).toBe(1)
  })

  it('two replicas admit no more than the limit between them, even in one burst', async () => {
    const { counter, peer } = await kind.open()
    for (const max of [3, 40]) {
      const taken = await takeAll([counter, peer], `burst-${max}`, max, max + 25)
      expect(taken.filter((t) => t.count <= max).length).toBeLessThanOrEqual(max)
      // Small limits are exact; larger ones waste at most one unspent lease per replica.
      const floor = max < 40 ? max : max - 2 * (Math.floor(max / 20) - 1)
      expect(taken.filter((t) => t.count <= max).length).toBeGreaterThanOrEqual(floor)
    }
  })

  it('keys counted under different limits keep their own leases', async () => {
    const { counter } = await kind.open()
    let admitted = 0
    for (let i = 0; i < 60; i++) {
      if ((await counter.take('forty', 40)).count <= 40) admitted++
      await counter.take('other', 100)
    }
    // At most one unspent lease (of 2) is lost at the window's end, never one per alternation.
    expect(admitted).toBeGreaterThanOrEqual(39)
    expect(admitted).toBeLessThanOrEqual(40)
  })

  it('a lowered limit refuses at once within the same window', async () => {
    const { counter } = await kind.open()
    await takeAll([counter], 'lowered', 100, 10)
    expect((await counter.take('lowered', 5)).count).toBeGreaterThan(5)
  })
})

describe('memory counter window', () => {
  it('starts again when the window ends, by the clock it is given', async () => {
    let now = 1_000_000
    const counter = memoryCounter(WINDOW, () => now)
    await takeAll([counter], 'k', 2, 3)
    expect((await counter.take('k', 2)).count).toBe(4)
    now += WINDOW - 1
    expect((await counter.take('k', 2)).resetMs).toBe(1)
    now += 1
    expect((await counter.take('k', 2)).count).toBe(1)
  })
})

describe('Redis counter window', () => {
  it('is one key under the counter namespace that expires with the window', async () => {
    const { counter } = await (kinds[1] as Kind).open()
    await counter.take('ses_window', 3)
    const raw = new Redis(url)
    try {
      const prefix = prefixes[prefixes.length - 1] as string
      const key = `${prefix}{al}:gc:ses_window`
      expect(await raw.get(key)).toBe('1')
      const ttl = await raw.pttl(key)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(WINDOW)
    } finally {
      raw.disconnect()
    }
  })
})
