// ProviderState (providers/types.ts) for both stores: sorted sets and a cross-replica lock under
// each provider's own keys. Redis is shared by every replica; memory serves `airlock dev` and tests.
import { randomBytes } from 'node:crypto'
import type { Backend } from './backend.js'
import { guard, type RedisClient } from '../redis/client.js'
import { defineScript } from '../redis/script.js'
import type { ProviderState, ScoredMember } from '../../providers/types.js'
import { redisKeys } from './keys.js'

export type ProviderStateFactory = (provider: string) => ProviderState

/** KEYS: lock. ARGV: owner token. Deletes the lock only if we still own it. */
const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

export class LockBusyError extends Error {
  constructor(name: string, waitedMs: number) {
    super(`the lock '${name}' is held by another replica (waited ${waitedMs} ms)`)
    this.name = 'LockBusyError'
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Tries `take` until it succeeds or `waitMs` passes, with short jittered pauses (a lock is held for one IAM round trip or so). */
async function acquire(name: string, waitMs: number, take: () => Promise<boolean>): Promise<void> {
  const start = Date.now()
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    if (await take()) return
    const left = start + waitMs - Date.now()
    if (left <= 0) throw new LockBusyError(name, Date.now() - start)
    await sleep(Math.min(left, pause * (0.5 + Math.random())))
  }
}

const token = () => randomBytes(16).toString('hex')
/** Redis spells the infinities its own way. */
const score = (n: number): string => (n === Infinity ? '+inf' : n === -Infinity ? '-inf' : String(n))

/** Provider state in the backend: shared through Redis, or this process's own. */
export const providerStateFor = (backend: Backend): ProviderStateFactory =>
  backend.kind === 'redis'
    ? redisProviderState(backend.redis, backend.prefix, backend.confirmWrites)
    : memoryProviderState()

/** `confirm` waits for the replicas (store.replica_acks) to hold every write made so far. */
export function redisProviderState(
  redis: RedisClient,
  prefix: string,
  confirm: () => Promise<void> = async () => {},
): ProviderStateFactory {
  const k = redisKeys(prefix)
  const release = defineScript<number>(redis, 'alReleaseProviderLock', RELEASE_LOCK, 1)
  const pairs = (flat: string[]): ScoredMember[] => {
    const out: ScoredMember[] = []
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ member: flat[i]!, score: Number(flat[i + 1]) })
    return out
  }

  return (provider) => {
    const key = (set: string) => k.providerSet(provider, set)
    return {
      zadd: (set, entries, opts) =>
        guard('zadd', async () => {
          if (entries.length === 0) return 0
          const args = entries.flatMap((e) => [e.score, e.member])
          return opts?.onlyNew ? redis.zadd(key(set), 'NX', ...args) : redis.zadd(key(set), ...args)
        }),
      zrem: (set, members) =>
        guard('zrem', async () => (members.length === 0 ? 0 : redis.zrem(key(set), ...members))),
      zscore: (set, member) =>
        guard('zscore', async () => {
          const s = await redis.zscore(key(set), member)
          return s === null ? null : Number(s)
        }),
      zrange: (set, min = -Infinity, max = Infinity) =>
        guard('zrange', async () =>
          pairs(await redis.zrangebyscore(key(set), score(min), score(max), 'WITHSCORES')),
        ),
      zremBelow: (set, max) =>
        guard('zremrangebyscore', () =>
          redis.zremrangebyscore(key(set), '-inf', max === Infinity ? '+inf' : `(${score(max)}`),
        ),
      async withLock(name, ttlMs, fn, opts) {
        const lockKey = k.providerLock(provider, name)
        const owner = token()
        await acquire(name, opts?.waitMs ?? ttlMs, async () =>
          guard('lock', async () => (await redis.set(lockKey, owner, 'PX', ttlMs, 'NX')) === 'OK'),
        )
        try {
          const result = await fn()
          // What a lock guards is acknowledged before anyone else may read it: an aws deny entry
          // a failover loses would be dropped from the role's policy by the next rewrite.
          await confirm()
          return result
        } finally {
          // If the release fails, the lock lapses after ttlMs by itself.
          await release(lockKey, owner).catch(() => {})
        }
      },
    }
  }
}

/** One process only (`airlock dev`, tests): the same semantics without Redis. */
export function memoryProviderState(): ProviderStateFactory {
  const sets = new Map<string, Map<string, number>>()
  const locks = new Map<string, { owner: string; until: number }>()
  const sorted = (m: Map<string, number>): ScoredMember[] =>
    [...m.entries()]
      .map(([member, score]) => ({ member, score }))
      .sort((a, b) => a.score - b.score || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0))

  return (provider) => {
    const get = (set: string) => {
      const name = `${provider}\0${set}`
      let m = sets.get(name)
      if (!m) sets.set(name, (m = new Map()))
      return m
    }
    return {
      async zadd(set, entries, opts) {
        const m = get(set)
        let added = 0
        for (const e of entries) {
          if (!m.has(e.member)) added++
          else if (opts?.onlyNew) continue
          m.set(e.member, e.score)
        }
        return added
      },
      async zrem(set, members) {
        const m = get(set)
        return members.filter((x) => m.delete(x)).length
      },
      async zscore(set, member) {
        return get(set).get(member) ?? null
      },
      async zrange(set, min = -Infinity, max = Infinity) {
        return sorted(get(set)).filter((e) => e.score >= min && e.score <= max)
      },
      async zremBelow(set, max) {
        const m = get(set)
        let n = 0
        for (const [member, score] of m) if (score < max && m.delete(member)) n++
        return n
      },
      async withLock(name, ttlMs, fn, opts) {
        const lockKey = `${provider}\0${name}`
        const owner = token()
        await acquire(name, opts?.waitMs ?? ttlMs, async () => {
          const cur = locks.get(lockKey)
          if (cur && cur.until > Date.now()) return false
          locks.set(lockKey, { owner, until: Date.now() + ttlMs })
          return true
        })
        try {
          return await fn()
        } finally {
          if (locks.get(lockKey)?.owner === owner) locks.delete(lockKey)
        }
      },
    }
  }
}
