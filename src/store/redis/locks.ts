// Locks in Redis: a hash of lock JSON, and one sorted set per combination of the dimensions a
// lock names (scripts.ts checks a scope against the 15 that could match it).
import type { Lock } from '../../domain/lock.js'
import { lockMatch } from '../../domain/lock.js'
import { lockCombo } from '../keys.js'
import * as lua from '../scripts.js'
import type { LockStore } from '../types.js'
import { guard, type RedisContext } from './context.js'

export function redisLocks(ctx: RedisContext): LockStore {
  const { redis, k } = ctx
  const putLockScript = ctx.acked('alPutLock', lua.PUT_LOCK)
  const deleteLockScript = ctx.acked('alDeleteLock', lua.DELETE_LOCK, (reply) => reply !== null)

  return {
    putLock: (lock) =>
      guard('lock', async () => {
        const score = lock.expires_at === null ? '+inf' : lock.expires_at
        await putLockScript(
          2,
          k.locks,
          k.lockIndex(lockCombo(lockMatch(lock))),
          lock.id,
          JSON.stringify(lock),
          score,
        )
      }),
    deleteLock: (id) =>
      guard('unlock', async () => {
        const raw = await redis.hget(k.locks, id)
        if (!raw) return null
        const lock = JSON.parse(raw) as Lock
        // Only the caller whose script removed it lifted it: another replica (an operator's
        // DELETE, a sweep) may have taken it since the read, and it is lifted and audited once.
        const removed = (await deleteLockScript(2, k.locks, k.lockIndex(lockCombo(lockMatch(lock))), id)) as
          string | null
        return removed === null ? null : (JSON.parse(removed) as Lock)
      }),
    listLocks: () =>
      guard('locks', async () =>
        Object.values(await redis.hgetall(k.locks)).map((j) => JSON.parse(j) as Lock),
      ),
  }
}
