// Change notifications over Redis pub/sub when the connection drops (a private redis-server, stopped
// and started again): notifications published meanwhile are lost, so every session watcher and every
// vault listener is told to read again once the subscription is back, and later changes arrive again.
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { redisKeys } from '../../src/store/keys.js'
import { createRedisStore, type RedisStore } from '../../src/store/redis.js'
import { redisVaultStorage, type VaultStorage } from '../../src/vault/storage.js'
import { arrives, EVENT_MS } from '../support/bounded.js'
import { redisServer, type RedisServer } from '../support/redis-server.js'

let redis: RedisServer
const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`
const keys = redisKeys(prefix)
const open: { close(): Promise<void> }[] = []
beforeAll(async () => {
  redis = await redisServer()
})
afterAll(async () => {
  for (const o of open) await o.close()
  await redis.stop()
})

/** Restarts Redis (it keeps nothing) and waits until `channel` has `subscribers` again. */
async function restart(channel: string, subscribers: number) {
  await redis.stop()
  await redis.start()
  const probe = new Redis(redis.url)
  try {
    await vi.waitFor(
      async () => {
        const [, n] = (await probe.pubsub('NUMSUB', channel)) as [string, number]
        expect(n, `subscribers of ${channel} back after the restart`).toBe(subscribers)
      },
      { timeout: EVENT_MS, interval: 50 },
    )
  } finally {
    probe.disconnect()
  }
}

describe('session change feed across a reconnect', () => {
  it('wakes every watcher when the subscription is back, then delivers changes again', async () => {
    const store: RedisStore = await createRedisStore(redis.url, prefix)
    open.push(store)
    const a = await store.watchChange('ses_a', 60_000)
    const b = await store.watchChange('ses_b', 60_000)
    await restart(keys.changes, 1)
    await arrives(a.changed, 'a watcher of ses_a told to read again after the reconnect')
    await arrives(b.changed, 'a watcher of ses_b told to read again after the reconnect')

    const peer = await createRedisStore(redis.url, prefix)
    open.push(peer)
    const again = await store.watchChange('ses_a', 60_000)
    peer.publishChange('ses_a')
    await arrives(again.changed, 'a change published after the reconnect')
  })
})

describe('vault change notifications across a reconnect', () => {
  it('tells listeners everything may have changed, then delivers changes again', async () => {
    const storage: VaultStorage = await redisVaultStorage(redis.url, prefix)
    open.push(storage)
    const next = (path: string) =>
      new Promise<void>((resolve) => storage.onChange((p) => p === path && resolve()))
    const everything = next('*')
    await restart(keys.vaultChanges, 1)
    await arrives(everything, "the vault's '*' notice after the reconnect")

    const writer = await redisVaultStorage(redis.url, prefix)
    open.push(writer)
    const written = next('team/token')
    const rec = {
      v: 1 as const,
      path: 'team/token',
      version: 1,
      kek: 'k',
      dk: 'd',
      iv: 'i',
      tag: 't',
      ct: 'c',
      updated_at: new Date(0).toISOString(),
      updated_by: 'ops',
    }
    expect(await writer.put(rec, 0)).toBe(true)
    await arrives(written, 'the notice of a write after the reconnect')
  })
})
