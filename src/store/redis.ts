// The production store: Redis, shared by every replica. Lua (scripts.ts) for atomic changes;
// any connection problem surfaces as StoreUnavailableError (a 503), never as a hang or a crash.
// With store.replica_acks, the writes that grant, decide, revoke or lock go through the durable
// writer (durable.ts): pipelined with WAIT on a connection of their own, so a slow replica never
// holds up reads.
import type { Redis } from 'ioredis'
import { StoreUnavailableError } from '../errors.js'
import type { RedisConnection } from '../config/types.js'
import type { Lock } from '../locks/model.js'
import { lockMatch } from '../locks/model.js'
import { isFinal, scopeOf, type LockScope, type SessionRecord } from '../sessions/model.js'
import { lockCombo, recordExpiry, redisKeys, scopeCombos } from './keys.js'
import { decodeCursor, decodeRecord, encodeCursor, encodeRecord, parseHead } from './codec.js'
import * as lua from './scripts.js'
import { createWaiters } from './waiters.js'
import { redisConsoleRecords } from './console-records.js'
import {
  connectRedis,
  guard,
  onReconnect,
  openRedis,
  openSubscriber,
  urlConnection,
  type RedisClient,
} from '../redis/client.js'
import { createDurableWriter, ReplicaAckError, type Durability } from './durable.js'
import type { CasResult, CreateResult, Store, StoredAuditEvent } from './types.js'

type Script = (...args: (string | number)[]) => Promise<unknown>

export interface RedisStore extends Store {
  readonly redis: RedisClient
}

export async function createRedisStore(
  target: RedisConnection | string,
  prefix: string,
  opts: { durability?: Durability } = {},
): Promise<RedisStore> {
  const conn = typeof target === 'string' ? urlConnection(target) : target
  const redis = openRedis(conn, { enableAutoPipelining: true })
  await connectRedis(redis)
  const k = redisKeys(prefix)
  const durability = opts.durability?.acks ? opts.durability : null
  // WAIT blocks its connection, so acknowledged writes get one of their own.
  const writes = durability ? openRedis(conn) : null
  if (writes) {
    try {
      await connectRedis(writes)
    } catch (e) {
      redis.disconnect()
      throw e
    }
  }
  const writer = writes && durability ? createDurableWriter(writes, durability) : null
  const script = (name: string, src: string): Script => {
    redis.defineCommand(name, { lua: src })
    writes?.defineCommand(name, { lua: src })
    const fn = (redis as unknown as Record<string, Script>)[name] as Script
    return fn.bind(redis)
  }
  /**
   * A state change people are told about: acknowledged by the replicas when configured. A reply
   * that says nothing was written (`wrote` false: a conflict, a lock, a retry with more keys)
   * needs no acknowledgement.
   */
  const acked = (
    name: string,
    src: string,
    wrote: (reply: unknown) => boolean = (r) => r === 'ok',
  ): Script => {
    const direct = script(name, src)
    if (!writer) return direct
    return (...args) =>
      writer.run(name, ...args).catch((e: unknown) => {
        if (e instanceof ReplicaAckError && !wrote(e.reply)) return e.reply
        throw e
      })
  }
  const createScript = acked('alCreateSession', lua.CREATE_SESSION)
  const casScript = acked('alCasSession', lua.CAS_SESSION)
  const introspectScript = script('alIntrospect', lua.INTROSPECT)
  const putLockScript = acked('alPutLock', lua.PUT_LOCK)
  const deleteLockScript = acked('alDeleteLock', lua.DELETE_LOCK, (reply) => reply !== null)
  const appendScript = acked('alAppendAudit', lua.APPEND_AUDIT)
  const leaseScript = script('alAcquireLease', lua.ACQUIRE_LEASE)
  const claimDueScript = script('alClaimDue', lua.CLAIM_DUE)
  const useActionScript = script('alUseAction', lua.USE_ACTION)

  // Subscriptions need their own connection; opened on first use of ?wait=.
  let sub: RedisClient | null = null
  const waiters = createWaiters()
  let subscribed: Promise<void> | null = null
  const subscriber = (): Promise<void> => {
    subscribed ??= (async () => {
      sub = openSubscriber(conn)
      sub.on('message', (_ch: string, id: string) => waiters.wake(id))
      // Changes published while the subscription was down are lost: every waiter reads again.
      onReconnect(sub, () => waiters.wakeAll())
      await sub.connect()
      await sub.subscribe(k.changes)
    })().catch((e: unknown) => {
      subscribed = null
      sub?.disconnect()
      throw new StoreUnavailableError(`Redis subscribe failed: ${(e as Error).message}`, e)
    })
    return subscribed
  }

  const parse = (json: string | null): SessionRecord | null => (json ? decodeRecord(json) : null)
  // The 16 lock keys of a scope, cached: most traffic comes from few agents, environments and tasks.
  const lockKeyCache = new Map<string, string[]>()
  const lockKeys = (scope: LockScope): string[] => {
    const id = `${scope.agent}\0${scope.environment}\0${scope.provider}\0${scope.task_id}`
    let keys = lockKeyCache.get(id)
    if (!keys) {
      keys = [k.locks, ...scopeCombos(scope).map(k.lockIndex)]
      if (lockKeyCache.size >= 10_000) lockKeyCache.clear()
      lockKeyCache.set(id, keys)
    }
    return keys
  }
  const recLockKeys = (rec: SessionRecord) => lockKeys(scopeOf(rec))

  return {
    kind: 'redis',
    redis,
    ping: () =>
      guard('ping', async () => {
        // Cluster: a keyed read reaches the slot's primary or fails. Otherwise ask the role, so a
        // broker left on a demoted primary reports unready instead of serving from a replica.
        if (conn.kind === 'cluster') return void (await redis.exists(k.barrier))
        const [role] = (await (redis as Redis).role()) as [string]
        if (role !== 'master') throw new Error(`connected to a ${role}, not the primary`)
      }),
    confirmWrites: () =>
      guard('write', async () => {
        // Any write replicates after every earlier one: its acknowledgement covers them all.
        if (writer) await writer.run('set', k.barrier, Date.now(), 'PX', 60_000)
      }),
    async close() {
      sub?.disconnect()
      writes?.disconnect()
      redis.disconnect()
    },

    createSession: (rec, retentionMs, now) =>
      guard('create', async () => {
        const pending = rec.status === 'pending_approval' ? '1' : '0'
        const pxat = recordExpiry(rec.expires_at, retentionMs)
        const args = [encodeRecord(rec), rec.id, rec.expires_at, pxat, rec.created_at, now, pending]
        const base = [k.session(rec.id), k.deadlines, k.created, k.pending]
        let keys = [...base, k.locks]
        let r = (await createScript(keys.length, ...keys, ...args)) as CreateResult | 'need_locks'
        if (r === 'need_locks') {
          keys = [...base, ...recLockKeys(rec)]
          r = (await createScript(keys.length, ...keys, ...args)) as CreateResult | 'need_locks'
        }
        return r === 'need_locks' ? 'locked' : r
      }),
    getSession: (id) => guard('read', async () => parse(await redis.get(k.session(id)))),
    getSessions: (ids) =>
      guard('read', async () => (ids.length === 0 ? [] : (await redis.mget(ids.map(k.session))).map(parse))),
    introspect: (id, scope, now) =>
      guard('introspect', async () => {
        let keys = [k.session(id), k.locks]
        let [rec, locked] = (await introspectScript(keys.length, ...keys, now)) as [string | null, number]
        if (locked === 2) {
          keys = [k.session(id), ...lockKeys(scope)]
          ;[rec, locked] = (await introspectScript(keys.length, ...keys, now)) as [string | null, number]
        }
        return { rec: parse(rec), locked: locked !== 0 }
      }),
    casSession: (next, expectedV, { checkLocks, retentionMs, now }) =>
      guard('update', async () => {
        const deadline = isFinal(next.status) ? '' : next.expires_at
        const pending = next.status === 'pending_approval' ? '1' : '0'
        const pxat = recordExpiry(next.expires_at, retentionMs)
        const args = [expectedV, encodeRecord(next), next.id, deadline, pxat, now, pending]
        const base = [k.session(next.id), k.deadlines, k.pending]
        let keys = checkLocks ? [...base, k.locks] : base
        let r = (await casScript(keys.length, ...keys, ...args)) as CasResult | 'need_locks'
        if (r === 'need_locks') {
          keys = [...base, ...recLockKeys(next)]
          r = (await casScript(keys.length, ...keys, ...args)) as CasResult | 'need_locks'
        }
        return r === 'need_locks' ? 'locked' : r
      }),
    cursorAfter: (rec) => encodeCursor(rec.created_at, rec.id),
    listSessionIds: (cursor, limit) => {
      // A malformed cursor is the caller's mistake (RangeError), not a store failure.
      let max = '+inf'
      let after: string | null = null
      if (cursor) {
        const [ms, id] = decodeCursor(cursor)
        max = String(ms)
        after = id
      }
      return guard('list', async () => {
        // Members sharing the cursor's score come first (all of them, filtered by id), then
        // everything strictly older; so ties never drop or repeat ids across pages.
        const ties = after === null ? [] : await redis.zrevrangebyscore(k.created, max, max, 'WITHSCORES')
        const older = await redis.zrevrangebyscore(
          k.created,
          after === null ? max : `(${max}`,
          '-inf',
          'WITHSCORES',
          'LIMIT',
          0,
          limit + 1,
        )
        const out: [string, number][] = []
        for (const raw of [ties, older]) {
          for (let i = 0; i < raw.length; i += 2) {
            const id = raw[i] as string
            if (raw === ties && id >= (after as string)) continue
            out.push([id, Number(raw[i + 1])])
          }
        }
        const page = out.slice(0, limit)
        const last = page.at(-1)
        return {
          ids: page.map(([id]) => id),
          next: out.length > limit && last ? encodeCursor(last[1], last[0]) : null,
        }
      })
    },
    dueSessionIds: (now, limit) =>
      guard('sweep', () => redis.zrangebyscore(k.deadlines, '-inf', now, 'LIMIT', 0, limit)),
    claimDue: (ids, now, until) =>
      guard('sweep', async () => {
        if (ids.length === 0) return { recs: [], dropped: 0 }
        const keys = [k.deadlines, k.pending, k.created, ...ids.map(k.session)]
        const [dropped, ...recs] = (await claimDueScript(keys.length, ...keys, now, until, ...ids)) as [
          number,
          ...string[],
        ]
        return { recs: recs.map(decodeRecord), dropped }
      }),
    expiryLag: (now) =>
      guard('count', async () => {
        const [due, oldest] = await Promise.all([
          redis.zcount(k.deadlines, '-inf', now),
          redis.zrangebyscore(k.deadlines, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1),
        ])
        return { due, oldestDeadline: oldest.length === 2 ? Number(oldest[1]) : null }
      }),
    liveSessionIds: () => guard('list', () => redis.zrange(k.deadlines, 0, -1)),
    countLive: () =>
      guard('count', async () => {
        const [live, pending] = await Promise.all([redis.zcard(k.deadlines), redis.zcard(k.pending)])
        return { live, pending }
      }),
    trimSessionIndex: (before) =>
      guard('trim', async () => {
        const ids = await redis.zrangebyscore(k.created, '-inf', `(${before}`, 'LIMIT', 0, 1000)
        if (ids.length === 0) return 0
        const exists = await redis.mget(ids.map(k.session))
        const gone = ids.filter((_, i) => exists[i] === null)
        if (gone.length > 0) await redis.zrem(k.created, ...gone)
        return gone.length
      }),

    useAction: (id, keepUntil) =>
      guard(
        'action',
        async () => (await useActionScript(2, k.session(id), k.actionUsed(id), keepUntil)) === 1,
      ),

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
        await deleteLockScript(2, k.locks, k.lockIndex(lockCombo(lockMatch(lock))), id)
        return lock
      }),
    listLocks: () =>
      guard('locks', async () =>
        Object.values(await redis.hgetall(k.locks)).map((j) => JSON.parse(j) as Lock),
      ),

    auditHead: (chain) => guard('audit', async () => parseHead(await redis.get(k.auditHead(chain)))),
    appendAudit: (chain, expected, next, events, retentionMs, creates) =>
      guard('audit append', async () => {
        const sessions = creates?.sessions ?? []
        const updates = creates?.updates ?? []
        const head = [
          expected === null ? '' : `${expected.seq}:${expected.hash}`,
          `${next.seq}:${next.hash}`,
          retentionMs,
          events.length,
          sessions.length,
        ]
        const args: (string | number)[] = [...events]
        for (const { rec, retentionMs: keep } of sessions) {
          const pending = rec.status === 'pending_approval' ? '1' : '0'
          const pxat = recordExpiry(rec.expires_at, keep)
          args.push(encodeRecord(rec), rec.id, rec.expires_at, pxat, rec.created_at, pending)
        }
        for (const { rec, expectedV, retentionMs: keep } of updates) {
          const deadline = isFinal(rec.status) ? '' : rec.expires_at
          const pending = rec.status === 'pending_approval' ? '1' : '0'
          args.push(
            expectedV,
            encodeRecord(rec),
            rec.id,
            deadline,
            recordExpiry(rec.expires_at, keep),
            pending,
          )
        }
        const now = creates?.now ?? 0
        const shared = [k.auditHead(chain), k.audit, k.deadlines, k.created, k.pending, k.locks]
        const call = async (withLocks: boolean) => {
          const keys = [...shared]
          for (const { rec } of sessions) {
            keys.push(k.session(rec.id))
            if (withLocks) keys.push(...recLockKeys(rec).slice(1))
          }
          for (const { rec } of updates) keys.push(k.session(rec.id))
          const flags = [withLocks ? '1' : '0', now, updates.length]
          return (await appendScript(keys.length, ...keys, ...head, ...flags, ...args)) as
            'ok' | 'conflict' | 'need_locks' | (number | string)[]
        }
        let r = await call(false)
        if (r === 'need_locks') r = await call(true)
        if (r === 'need_locks') throw new Error('the append script asked for lock keys it was given')
        if (typeof r === 'string') return r
        const refused: { index: number; result: 'locked' | 'exists' | 'missing' | 'conflict' }[] = []
        for (let i = 0; i < r.length; i += 2)
          refused.push({
            index: Number(r[i]),
            result: r[i + 1] as 'locked' | 'exists' | 'missing' | 'conflict',
          })
        return { refused }
      }),
    readAudit: ({ afterPos, sinceMs, count, reverse }) =>
      guard('audit read', async () => {
        let rows: [string, string[]][]
        if (reverse) {
          const end = afterPos ? `(${afterPos}` : '+'
          rows = await redis.xrevrange(
            k.audit,
            end,
            sinceMs === undefined ? '-' : String(sinceMs),
            'COUNT',
            count,
          )
        } else {
          const start = afterPos ? `(${afterPos}` : sinceMs === undefined ? '-' : String(sinceMs)
          rows = await redis.xrange(k.audit, start, '+', 'COUNT', count)
        }
        return rows.map(([pos, fields]): StoredAuditEvent => ({ pos, json: fields[1] ?? '' }))
      }),
    trimAudit: (beforeMs, anchorOf, limit = Infinity) =>
      guard('audit trim', async () => {
        let total = 0
        while (total < limit) {
          // `(ms-0`, not `(ms`: an incomplete ID means ms-<max seq>, which would trim events stamped at beforeMs.
          const rows = await redis.xrange(k.audit, '-', `(${beforeMs}-0`, 'COUNT', 500)
          if (rows.length === 0) return total
          const last = new Map<string, string>()
          for (const [, f] of rows) {
            const a = anchorOf(f[1] ?? '')
            last.set(a.chain, `${a.seq}:${a.hash}`)
          }
          // Anchor first, delete second: a crash in between leaves events that verify skips.
          await redis.hset(k.auditAnchors, Object.fromEntries(last))
          total += await redis.xdel(k.audit, ...rows.map(([id]) => id))
        }
        return total
      }),
    auditAnchors: () =>
      guard('audit read', async () => {
        const raw = await redis.hgetall(k.auditAnchors)
        return Object.fromEntries(
          Object.entries(raw).map(([c, h]) => [c, parseHead(h) as { seq: number; hash: string }]),
        )
      }),

    acquireLease: (name, owner, ttlMs) =>
      guard('lease', async () => (await leaseScript(1, k.lease(name), owner, ttlMs)) === 1),

    ...redisConsoleRecords(redis, k),

    publishChange(sessionId) {
      redis.publish(k.changes, sessionId).catch(() => {})
    },
    async watchChange(sessionId, ms, signal) {
      await subscriber()
      return { changed: waiters.wait(sessionId, ms, signal) }
    },
  }
}
