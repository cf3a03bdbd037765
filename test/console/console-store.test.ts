// The console's records on the memory store and one Redis (test/support/console-store-suite.ts),
// and how small each store keeps a person's index of console sessions.
import { randomBytes } from 'node:crypto'
import { describe, expect, inject, it, vi } from 'vitest'
import { memoryConsoleRecords } from '../../src/store/console-records.js'
import { redisKeys } from '../../src/store/keys.js'
import { createRedisStore } from '../../src/store/redis.js'
import { deletePrefix, TestClock } from '../helper.js'
import { consoleStoreSuite } from '../support/console-store-suite.js'
import { localRedisKind, memoryKind, type Kind } from '../support/store-kinds.js'

describe.each([memoryKind, localRedisKind])('$name store: console records', (kind: Kind) => {
  consoleStoreSuite(kind)
})

describe('the per-person index of console sessions stays as small as their live sessions', () => {
  it('memory: lapsed sessions leave the index at the next write', async () => {
    const clock = new TestClock()
    const s = memoryConsoleRecords(clock)
    for (let i = 0; i < 50; i++) await s.putConsoleRecord('session', `old${i}`, 'x', 1000, false, 'bob')
    expect(s.indexedConsoleSessions('bob')).toBe(50)
    clock.advance(1001)
    await s.putConsoleRecord('session', 'new', 'x', 1000, false, 'bob')
    expect(s.indexedConsoleSessions('bob')).toBe(1)
    await s.deleteConsoleRecord('session', 'new')
    expect(s.indexedConsoleSessions('bob')).toBe(0)
    expect(await s.endConsoleSessions('bob')).toBe(0)
  })

  it('redis: lapsed members are dropped at the next write, and the index expires with its last', async () => {
    const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`
    const s = await createRedisStore(inject('redisUrl'), prefix)
    const index = redisKeys(prefix).consoleSessionsOf
    try {
      // Long enough that none lapses while the 50 are written, even on a loaded machine: each
      // write drops the lapsed ones, so a shorter life would make the count below a race.
      for (let i = 0; i < 50; i++) await s.putConsoleRecord('session', `old${i}`, 'x', 1500, false, 'bob')
      await s.putConsoleRecord('session', 'kept', 'x', 60_000, false, 'alice')
      expect(await s.redis.zcard(index('bob'))).toBe(50)
      await vi.waitFor(async () => expect(await s.getConsoleRecord('session', 'old49')).toBeNull(), {
        timeout: 5000,
        interval: 20,
      })
      await s.putConsoleRecord('session', 'new', 'x', 60, false, 'bob')
      expect(await s.redis.zcard(index('bob'))).toBe(1)
      await vi.waitFor(async () => expect(await s.redis.exists(index('bob'))).toBe(0), {
        timeout: 2000,
        interval: 10,
      })
      expect(await s.redis.exists(index('alice'))).toBe(1)
    } finally {
      await s.close()
      await deletePrefix(inject('redisUrl'), prefix)
    }
  })
})
