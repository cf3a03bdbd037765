// Console records (src/console): signed-in console sessions and OIDC sign-ins in progress. Small
// JSON strings with a lifetime, one key each; both stores keep them with the same rules.
import { guard, type RedisClient } from '../redis/client.js'
import type { Keys } from './keys.js'
import type { ConsoleRecordKind, ConsoleStore } from './types.js'

export function redisConsoleRecords(redis: RedisClient, k: Keys): ConsoleStore {
  const key = (kind: ConsoleRecordKind, id: string) =>
    kind === 'session' ? k.consoleSession(id) : k.consoleLogin(id)
  return {
    putConsoleRecord: (kind, id, json, ttlMs, onlyIfExists = false) =>
      guard('console write', async () => {
        const ms = Math.max(1, Math.ceil(ttlMs))
        const r = onlyIfExists
          ? await redis.set(key(kind, id), json, 'PX', ms, 'XX')
          : await redis.set(key(kind, id), json, 'PX', ms)
        return r === 'OK'
      }),
    getConsoleRecord: (kind, id) => guard('console read', () => redis.get(key(kind, id))),
    takeConsoleRecord: (kind, id) =>
      guard('console read', async () => {
        const r = await redis.multi().get(key(kind, id)).del(key(kind, id)).exec()
        const got = r?.[0]
        if (!got || got[0]) throw got?.[0] ?? new Error('no reply')
        return (got[1] as string | null) ?? null
      }),
    deleteConsoleRecord: (kind, id) =>
      guard('console write', async () => {
        await redis.del(key(kind, id))
      }),
  }
}

export function memoryConsoleRecords(clock: { now(): number }): ConsoleStore {
  const records = new Map<string, { json: string; until: number }>()
  const live = (kind: ConsoleRecordKind, id: string) => {
    const r = records.get(`${kind}:${id}`)
    if (r && r.until <= clock.now()) records.delete(`${kind}:${id}`)
    return r && r.until > clock.now() ? r : null
  }
  return {
    async putConsoleRecord(kind, id, json, ttlMs, onlyIfExists = false) {
      if (onlyIfExists && !live(kind, id)) return false
      // Dropping lapsed records here keeps the map to what is alive.
      for (const [k, r] of records) if (r.until <= clock.now()) records.delete(k)
      records.set(`${kind}:${id}`, { json, until: clock.now() + Math.max(1, ttlMs) })
      return true
    },
    async getConsoleRecord(kind, id) {
      return live(kind, id)?.json ?? null
    },
    async takeConsoleRecord(kind, id) {
      const r = live(kind, id)
      records.delete(`${kind}:${id}`)
      return r?.json ?? null
    },
    async deleteConsoleRecord(kind, id) {
      records.delete(`${kind}:${id}`)
    },
  }
}
