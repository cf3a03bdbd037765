// The production store: Redis, shared by every replica. Lua (scripts.ts) for atomic changes;
// any connection problem surfaces as StoreUnavailableError (a 503), never as a hang or a crash.
import { Redis, type RedisOptions } from 'ioredis'
import { StoreUnavailableError } from '../errors.js'
import type { Lock } from '../locks/model.js'
import { lockMatch } from '../locks/model.js'
import { isFinal, scopeOf, type LockScope, type SessionRecord } from '../sessions/model.js'
import { lockCombo, recordExpiry, redisKeys, scopeCombos } from './keys.js'
import { decodeCursor, encodeCursor, parseHead } from './codec.js'
import * as lua from './scripts.js'
import { createWaiters } from './waiters.js'
import type { CasResult, CreateResult, RevocationJob, Store, StoredAuditEvent } from './types.js'

type Script = (...args: (string | number)[]) => Promise<unknown>

/** Fail fast while disconnected (no unbounded offline queue), reconnect forever in the background. */
export const redisOptions = (extra: RedisOptions = {}): RedisOptions => ({
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 2000,
  connectTimeout: 2000,
  retryStrategy: (times) => Math.min(50 * times, 1000),
  lazyConnect: true,
  ...extra,
})

/** Runs a Redis call; any failure becomes a StoreUnavailableError (a 503) naming what failed. */
export const guard = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
  try {
    return await f()
  } catch (e) {
    throw new StoreUnavailableError(`Redis ${what} failed: ${(e as Error).message}`, e)
  }
}

export interface RedisStore extends Store {
  readonly redis: Redis
}

export async function createRedisStore(url: string, prefix: string): Promise<RedisStore> {
  const redis = new Redis(url, redisOptions({ enableAutoPipelining: true }))
  redis.on('error', () => {}) // reported through failed commands and /readyz, not as a crash
  await redis.connect().catch((e: unknown) => {
    redis.disconnect()
    throw new StoreUnavailableError(`cannot connect to Redis: ${(e as Error).message}`, e)
  })
  const k = redisKeys(prefix)
  const script = (name: string, src: string): Script => {
    redis.defineCommand(name, { lua: src })
    const fn = (redis as unknown as Record<string, Script>)[name] as Script
    return fn.bind(redis)
  }
  const createScript = script('alCreateSession', lua.CREATE_SESSION)
  const casScript = script('alCasSession', lua.CAS_SESSION)
  const introspectScript = script('alIntrospect', lua.INTROSPECT)
  const putLockScript = script('alPutLock', lua.PUT_LOCK)
  const deleteLockScript = script('alDeleteLock', lua.DELETE_LOCK)
  const appendScript = script('alAppendAudit', lua.APPEND_AUDIT)
  const claimScript = script('alClaimRevocations', lua.CLAIM_REVOCATIONS)
  const finishIfSame = script('alFinishIfSame', lua.FINISH_IF_SAME)
  const retryIfSame = script('alRetryIfSame', lua.RETRY_IF_SAME)
  const leaseScript = script('alAcquireLease', lua.ACQUIRE_LEASE)
  const useActionScript = script('alUseAction', lua.USE_ACTION)

  // Subscriptions need their own connection; opened on first use of ?wait=.
  let sub: Redis | null = null
  const waiters = createWaiters()
  let subscribed: Promise<void> | null = null
  const subscriber = (): Promise<void> => {
    subscribed ??= (async () => {
      sub = new Redis(url, redisOptions({ enableOfflineQueue: true, maxRetriesPerRequest: null }))
      sub.on('error', () => {})
      sub.on('message', (_ch: string, id: string) => waiters.wake(id))
      await sub.connect()
      await sub.subscribe(k.changes)
    })().catch((e: unknown) => {
      subscribed = null
      sub?.disconnect()
      throw new StoreUnavailableError(`Redis subscribe failed: ${(e as Error).message}`, e)
    })
    return subscribed
  }

  const parse = (json: string | null): SessionRecord | null =>
    json ? (JSON.parse(json) as SessionRecord) : null
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
    ping: () => guard('ping', async () => void (await redis.ping())),
    async close() {
      sub?.disconnect()
      redis.disconnect()
    },

    createSession: (rec, retentionMs, now) =>
      guard('create', async () => {
        const pending = rec.status === 'pending_approval' ? '1' : '0'
        const pxat = recordExpiry(rec.expires_at, retentionMs)
        const args = [JSON.stringify(rec), rec.id, rec.expires_at, pxat, rec.created_at, now, pending]
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
        const args = [expectedV, JSON.stringify(next), next.id, deadline, pxat, now, pending]
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
          args.push(JSON.stringify(rec), rec.id, rec.expires_at, pxat, rec.created_at, pending)
        }
        const now = creates?.now ?? 0
        const shared = [k.auditHead(chain), k.audit, k.deadlines, k.created, k.pending, k.locks]
        const call = async (withLocks: boolean) => {
          const keys = [...shared]
          for (const { rec } of sessions) {
            keys.push(k.session(rec.id))
            if (withLocks) keys.push(...recLockKeys(rec).slice(1))
          }
          return (await appendScript(keys.length, ...keys, ...head, withLocks ? '1' : '0', now, ...args)) as
            'ok' | 'conflict' | 'need_locks' | (number | string)[]
        }
        let r = await call(false)
        if (r === 'need_locks') r = await call(true)
        if (r === 'need_locks') throw new Error('the append script asked for lock keys it was given')
        if (typeof r === 'string') return r
        const refused: { index: number; result: 'locked' | 'exists' }[] = []
        for (let i = 0; i < r.length; i += 2)
          refused.push({ index: Number(r[i]), result: r[i + 1] === 'locked' ? 'locked' : 'exists' })
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
    trimAudit: (beforeMs, anchorOf) =>
      guard('audit trim', async () => {
        let total = 0
        for (;;) {
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
      }),
    auditAnchors: () =>
      guard('audit read', async () => {
        const raw = await redis.hgetall(k.auditAnchors)
        return Object.fromEntries(
          Object.entries(raw).map(([c, h]) => [c, parseHead(h) as { seq: number; hash: string }]),
        )
      }),

    enqueueRevocation: (job, dueAt) =>
      guard('queue', async () => {
        await redis
          .multi()
          .hset(k.revocationJobs, job.id, JSON.stringify(job))
          .zadd(k.revocationQueue, dueAt, job.id)
          .exec()
      }),
    claimRevocations: (now, leaseMs, limit) =>
      guard('queue', async () => {
        const raw = (await claimScript(
          2,
          k.revocationQueue,
          k.revocationJobs,
          now,
          leaseMs,
          limit,
        )) as string[]
        return raw.map((j) => JSON.parse(j) as RevocationJob)
      }),
    finishRevocation: (claimed, now) =>
      guard('queue', async () => {
        const keys = [k.revocationQueue, k.revocationJobs]
        await finishIfSame(2, ...keys, claimed.id, JSON.stringify(claimed), now)
      }),
    retryRevocation: (claimed, next, dueAt, now) =>
      guard('queue', async () => {
        const keys = [k.revocationQueue, k.revocationJobs]
        await retryIfSame(2, ...keys, claimed.id, JSON.stringify(claimed), JSON.stringify(next), dueAt, now)
      }),
    revocationBacklog: () => guard('queue', () => redis.zcard(k.revocationQueue)),

    acquireLease: (name, owner, ttlMs) =>
      guard('lease', async () => (await leaseScript(1, k.lease(name), owner, ttlMs)) === 1),

    publishChange(sessionId) {
      redis.publish(k.changes, sessionId).catch(() => {})
    },
    async watchChange(sessionId, ms, signal) {
      await subscriber()
      return { changed: waiters.wait(sessionId, ms, signal) }
    },
  }
}
