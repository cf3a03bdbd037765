// Console records (src/console): signed-in console sessions and OIDC sign-ins in progress. Small
// JSON strings with a lifetime, one key each; both stores keep them with the same rules. A session
// written with its owner is also indexed under that person (an operator ends them all at once); the
// index entry is written in the same step as the record and lapses with it.
import { guard, type RedisClient } from '../redis/client.js'
import { defineScript } from '../redis/script.js'
import type { Keys } from './keys.js'
import type { ConsoleRecordKind, ConsoleStore } from './types.js'

/**
 * KEYS: record[, owner's index]. ARGV: json, ms, '1' only over a record still there, id. The index
 * scores each member with the server time its record lapses, drops lapsed members, and expires
 * with its last member, so it never outgrows the person's live sessions.
 */
const PUT = `
local r
if ARGV[3] == '1' then
  r = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX')
else
  r = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if not r then return 0 end
if #KEYS > 1 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[2], last[2])
end
return 1
`

/** KEYS: record[, owner's index]. ARGV: id. The record (or nil), deleted with its index entry. */
const TAKE = `
local v = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
if #KEYS > 1 then redis.call('ZREM', KEYS[2], ARGV[1]) end
return v
`

/**
 * KEYS: owner's index, then sessions. ARGV: their ids, in the same order. Deletes those sessions
 * and their index entries; {how many were live, how many entries are left}. The keys are passed,
 * not built here, so the script declares every key it touches (Cluster).
 */
const END_SOME = `
local n = 0
for i = 2, #KEYS do
  n = n + redis.call('DEL', KEYS[i])
  redis.call('ZREM', KEYS[1], ARGV[i - 1])
end
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then redis.call('DEL', KEYS[1]) end
return {n, left}
`

export function redisConsoleRecords(redis: RedisClient, k: Keys): ConsoleStore {
  const key = (kind: ConsoleRecordKind, id: string) =>
    kind === 'session' ? k.consoleSession(id) : k.consoleLogin(id)
  /** The record's key, and its owner's index when it is a session with an owner. */
  const keys = (kind: ConsoleRecordKind, id: string, owner: string | undefined) =>
    kind === 'session' && owner !== undefined ? [key(kind, id), k.consoleSessionsOf(owner)] : [key(kind, id)]
  const put = defineScript<number>(redis, 'alConsolePut', PUT)
  const take = defineScript<string | null>(redis, 'alConsoleTake', TAKE)
  const endSome = defineScript<[number, number]>(redis, 'alConsoleEndSome', END_SOME)
  return {
    putConsoleRecord: (kind, id, json, ttlMs, onlyIfExists = false, owner) =>
      guard('console write', async () => {
        const ks = keys(kind, id, owner)
        const ms = Math.max(1, Math.ceil(ttlMs))
        return (await put(ks.length, ...ks, json, ms, onlyIfExists ? '1' : '0', id)) === 1
      }),
    getConsoleRecord: (kind, id) => guard('console read', () => redis.get(key(kind, id))),
    takeConsoleRecord: (kind, id, owner) =>
      guard('console read', async () => {
        const ks = keys(kind, id, owner)
        return (await take(ks.length, ...ks, id)) ?? null
      }),
    deleteConsoleRecord: (kind, id, owner) =>
      guard('console write', async () => {
        const ks = keys(kind, id, owner)
        await take(ks.length, ...ks, id)
      }),
    endConsoleSessions: (owner) =>
      guard('console write', async () => {
        const index = k.consoleSessionsOf(owner)
        let ended = 0
        // Each round is atomic; a sign-in that lands between the read and the script is indexed,
        // so the next round ends it (only such racing sign-ins make another round).
        for (;;) {
          const ids = await redis.zrange(index, 0, -1)
          if (ids.length === 0) return ended
          const [n, left] = await endSome(1 + ids.length, index, ...ids.map(k.consoleSession), ...ids)
          ended += n
          if (left === 0) return ended
        }
      }),
  }
}

export function memoryConsoleRecords(clock: { now(): number }): ConsoleStore & {
  /** How many sessions the owner's index holds (live or not yet dropped). */
  indexedConsoleSessions(owner: string): number
} {
  const records = new Map<string, { json: string; until: number; owner?: string }>()
  const byOwner = new Map<string, Set<string>>()
  const unindex = (owner: string | undefined, id: string) => {
    if (owner === undefined) return
    const ids = byOwner.get(owner)
    ids?.delete(id)
    if (ids?.size === 0) byOwner.delete(owner)
  }
  const drop = (k: string) => {
    const r = records.get(k)
    records.delete(k)
    if (r && k.startsWith('session:')) unindex(r.owner, k.slice('session:'.length))
  }
  const live = (kind: ConsoleRecordKind, id: string) => {
    const r = records.get(`${kind}:${id}`)
    if (r && r.until <= clock.now()) drop(`${kind}:${id}`)
    return r && r.until > clock.now() ? r : null
  }
  return {
    async putConsoleRecord(kind, id, json, ttlMs, onlyIfExists = false, owner) {
      if (onlyIfExists && !live(kind, id)) return false
      // Dropping lapsed records here keeps the map (and the index) to what is alive.
      for (const [k, r] of records) if (r.until <= clock.now()) drop(k)
      const o = kind === 'session' ? owner : undefined
      records.set(`${kind}:${id}`, {
        json,
        until: clock.now() + Math.max(1, ttlMs),
        ...(o !== undefined && { owner: o }),
      })
      if (o !== undefined) byOwner.set(o, (byOwner.get(o) ?? new Set()).add(id))
      return true
    },
    async getConsoleRecord(kind, id) {
      return live(kind, id)?.json ?? null
    },
    async takeConsoleRecord(kind, id) {
      const r = live(kind, id)
      drop(`${kind}:${id}`)
      return r?.json ?? null
    },
    async deleteConsoleRecord(kind, id) {
      drop(`${kind}:${id}`)
    },
    async endConsoleSessions(owner) {
      let n = 0
      for (const id of [...(byOwner.get(owner) ?? [])]) {
        if (live('session', id)) n++
        drop(`session:${id}`)
      }
      byOwner.delete(owner)
      return n
    },
    indexedConsoleSessions: (owner) => byOwner.get(owner)?.size ?? 0,
  }
}
