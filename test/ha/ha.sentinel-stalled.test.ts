// A sentinel that accepts connections but never answers (a frozen process or host) must not hold up
// the broker: it asks the next sentinel, at start-up and when it follows a failover.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisStore, type RedisStore } from '../../src/store/redis.js'
import { startSentinelSet, until, type SentinelSet } from '../support/redis-ha.js'

let set: SentinelSet
const stores: RedisStore[] = []
const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`

beforeAll(async () => {
  set = await startSentinelSet(1)
}, 60_000)

afterAll(async () => {
  for (const s of stores) await s.close()
  await set?.stop()
})

const writes = async (store: RedisStore) => {
  await store.putConsoleRecord('login', 'probe', '{}', 60_000)
  return true
}

describe('Sentinel with a stalled sentinel', { timeout: 60_000 }, () => {
  it('connects through the next sentinel when the first one listed answers nothing', async () => {
    set.stall(0, true)
    try {
      const started = Date.now()
      const store = await createRedisStore(set.connection(), prefix)
      stores.push(store)
      expect(Date.now() - started).toBeLessThan(8_000)
      expect(await writes(store)).toBe(true)
    } finally {
      set.stall(0, false)
    }
  })

  it('follows a failover when the sentinel it last used stalls with the primary', async () => {
    const store = await createRedisStore(set.connection(), prefix)
    stores.push(store)
    expect(await writes(store)).toBe(true)
    const oldPort = await set.primaryPort()
    // The sentinel that answered first is asked first again: it freezes, then the primary dies.
    set.stall(0, true)
    try {
      await set.nodes.find((n) => n.port === oldPort)?.stop()
      await set.failedOver(oldPort, 0)
      await until('a write on the promoted replica', () => writes(store), 20_000)
    } finally {
      set.stall(0, false)
    }
  })
})
