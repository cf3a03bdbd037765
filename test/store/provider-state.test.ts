// ProviderState (sorted sets and a cross-replica lock for providers), against both stores. For
// Redis, two connections stand for two replicas.
import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import type { ProviderState } from '../../providers/types.js'
import {
  LockBusyError,
  memoryProviderState,
  redisProviderState,
  type ProviderStateFactory,
} from '../../src/store/provider-state.js'
import { createRedisStore, type RedisStore } from '../../src/store/redis.js'
import { deletePrefix } from '../helper.js'
import { deferred } from '../support/gated-provider.js'

const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`
const stores: RedisStore[] = []
afterAll(async () => {
  for (const s of stores) await s.close()
  await deletePrefix(inject('redisUrl'), prefix)
})

/** Two factories sharing one backend (two replicas). */
async function replicas(kind: 'memory' | 'redis'): Promise<[ProviderStateFactory, ProviderStateFactory]> {
  if (kind === 'memory') {
    const f = memoryProviderState()
    return [f, f]
  }
  const a = await createRedisStore(inject('redisUrl'), prefix)
  const b = await createRedisStore(inject('redisUrl'), prefix)
  stores.push(a, b)
  return [redisProviderState(a.redis, prefix), redisProviderState(b.redis, prefix)]
}

describe.each(['memory', 'redis'] as const)('provider state (%s)', (kind) => {
  const set = `set-${kind}-${randomBytes(3).toString('hex')}`

  it('sorted sets: add, add-only-new, score, ordered ranges, remove, prune below a score', async () => {
    const [f] = await replicas(kind)
    const s = f('aws-main')
    expect(
      await s.zadd(set, [
        { member: 'b', score: 20 },
        { member: 'a', score: 10 },
        { member: 'c', score: 20 },
      ]),
    ).toBe(3)
    expect(await s.zadd(set, [{ member: 'a', score: 99 }], { onlyNew: true })).toBe(0)
    expect(await s.zscore(set, 'a')).toBe(10)
    expect(await s.zadd(set, [{ member: 'a', score: 30 }])).toBe(0)
    expect(await s.zscore(set, 'a')).toBe(30)
    expect(await s.zscore(set, 'zz')).toBeNull()
    expect(await s.zrange(set)).toEqual([
      { member: 'b', score: 20 },
      { member: 'c', score: 20 },
      { member: 'a', score: 30 },
    ])
    expect((await s.zrange(set, 21)).map((e) => e.member)).toEqual(['a'])
    expect((await s.zrange(set, 0, 20)).map((e) => e.member)).toEqual(['b', 'c'])
    expect(await s.zremBelow(set, 30)).toBe(2) // strictly below
    expect(await s.zrem(set, ['a', 'nope'])).toBe(1)
    expect(await s.zrange(set)).toEqual([])
    await s.zadd(set, [{ member: 'big', score: 1e15 }])
    expect(await s.zrange(set, -Infinity, Infinity)).toEqual([{ member: 'big', score: 1e15 }])
    expect(await s.zremBelow(set, Infinity)).toBe(1)
    expect(await s.zadd(set, [])).toBe(0)
    expect(await s.zrem(set, [])).toBe(0)
  })

  it('each provider sees only its own keys', async () => {
    const [f, g] = await replicas(kind)
    await f('aws-main').zadd(set, [{ member: 'x', score: 1 }])
    expect(await g('aws-main').zrange(set)).toEqual([{ member: 'x', score: 1 }]) // the other replica sees it
    expect(await g('aws-other').zrange(set)).toEqual([])
    await f('aws-main').zrem(set, ['x'])
  })

  it('withLock: critical sections on two replicas never overlap', async () => {
    const [f, g] = await replicas(kind)
    const states: ProviderState[] = [f('aws-main'), g('aws-main')]
    let inside = 0
    let most = 0
    let done = 0
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        states[i % 2]!.withLock('role:x', 5000, async () => {
          inside++
          most = Math.max(most, inside)
          await new Promise((r) => setImmediate(r))
          inside--
          done++
        }),
      ),
    )
    expect(done).toBe(20)
    expect(most).toBe(1)
  })

  it('withLock: waits a bounded time, then fails; returns the value and releases on error', async () => {
    const [f, g] = await replicas(kind)
    const release = deferred()
    const entered = deferred()
    const holder = f('aws-main').withLock('role:y', 5000, async () => {
      entered.resolve()
      await release.promise
      return 'held'
    })
    await entered.promise
    await expect(
      g('aws-main').withLock('role:y', 5000, async () => 'never', { waitMs: 60 }),
    ).rejects.toBeInstanceOf(LockBusyError)
    release.resolve()
    expect(await holder).toBe('held')
    await expect(
      g('aws-main').withLock('role:y', 5000, async () => {
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(await f('aws-main').withLock('role:y', 5000, async () => 'free again', { waitMs: 0 })).toBe(
      'free again',
    )
  })

  it('withLock: a holder whose lock lapsed never releases the next holder’s lock', async () => {
    const [f, g] = await replicas(kind)
    const firstIn = deferred()
    const secondIn = deferred()
    const secondOut = deferred()
    // The first holder outlives its 80 ms lock: it only returns once the second holder is inside.
    const first = f('aws-main').withLock('role:z', 80, async () => {
      firstIn.resolve()
      await secondIn.promise
    })
    await firstIn.promise // the second starts only once the first holds the lock
    const second = g('aws-main').withLock('role:z', 5000, async () => {
      secondIn.resolve()
      await secondOut.promise
    })
    await first // its release ran now, with the wrong owner token
    await expect(
      f('aws-main').withLock('role:z', 5000, async () => 'stolen', { waitMs: 30 }),
    ).rejects.toBeInstanceOf(LockBusyError)
    secondOut.resolve()
    await second
  })
})
