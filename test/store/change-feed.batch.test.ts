// Changes published together (a batch of expiries) travel in one message, and every watcher of
// any of those sessions on another replica still wakes; a watcher of another session does not.
import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createRedisStore, type RedisStore } from '../../src/store/redis.js'
import { arrives } from '../support/bounded.js'

const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`
const open: RedisStore[] = []
afterAll(async () => {
  for (const o of open) await o.close()
})

describe('session change feed in batches', () => {
  it('wakes the watchers of every session changed in the same turn', async () => {
    const store = await createRedisStore(inject('redisUrl'), prefix)
    const peer = await createRedisStore(inject('redisUrl'), prefix)
    open.push(store, peer)
    const ids = Array.from({ length: 1200 }, (_, i) => `ses_batch${i}`)
    const watched = await Promise.all(ids.map((id) => store.watchChange(id, 60_000)))
    const other = await store.watchChange('ses_other', 60_000)
    let otherWoke = false
    void other.changed.then(() => (otherWoke = true))
    for (const id of ids) peer.publishChange(id)
    await arrives(Promise.all(watched.map((w) => w.changed)), 'every watcher of the batch told')
    expect(otherWoke).toBe(false)
  })
})
