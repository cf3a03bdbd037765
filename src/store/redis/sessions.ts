// Session records in Redis: one string per session (TTL: its deadline + store.retention; compact
// with a shared profile, or JSON: src/store/record-codec.ts), the deadline, created and pending
// indexes, and the gateway's used-action marks.
import type { SessionRecord } from '../../domain/session.js'
import { isFinal } from '../../domain/status.js'
import { decodeCursor, encodeCursor, storedRecord } from '../codec.js'
import { recordExpiry } from '../keys.js'
import * as lua from '../scripts.js'
import type { CasResult, CreateResult, SessionStore } from '../types.js'
import { fromList, guard, type RedisContext } from './context.js'

export function redisSessions(ctx: RedisContext): SessionStore {
  const { redis, k, profiles } = ctx
  const one = async (id: string, raw: string | null) => (await profiles.decode([id], [raw]))[0] ?? null
  const { lockKeys, recLockKeys } = ctx
  const createScript = ctx.acked('alCreateSession', lua.CREATE_SESSION)
  const casScript = ctx.acked('alCasSession', lua.CAS_SESSION)
  const introspectScript = ctx.script('alIntrospect', lua.INTROSPECT)
  const claimDueScript = ctx.script('alClaimDue', lua.CLAIM_DUE)
  // Acknowledged: a mark a failover loses would let the approved action run a second time.
  const useActionScript = ctx.acked('alUseAction', lua.USE_ACTION, (r) => r === 1)

  return {
    createSession: (rec, retentionMs, now) =>
      guard('create', async () => {
        const pending = rec.status === 'pending_approval' ? '1' : '0'
        const pxat = recordExpiry(rec.expires_at, retentionMs)
        const packed = storedRecord(rec)
        await profiles.save([{ packed, pxat }])
        const args = [packed.text, rec.id, rec.expires_at, pxat, rec.created_at, now, pending]
        const base = [k.session(rec.id), k.deadlines, k.created, k.pending]
        let keys = [...base, k.locks]
        let r = (await createScript(keys.length, ...keys, ...args)) as CreateResult | 'need_locks'
        if (r === 'need_locks') {
          keys = [...base, ...recLockKeys(rec)]
          r = (await createScript(keys.length, ...keys, ...args)) as CreateResult | 'need_locks'
        }
        return r === 'need_locks' ? 'locked' : r
      }),
    getSession: (id) => guard('read', async () => one(id, await redis.get(k.session(id)))),
    getSessions: (ids, unreadable) =>
      guard('read', async () =>
        ids.length === 0 ? [] : profiles.decode(ids, await redis.mget(ids.map(k.session)), unreadable),
      ),
    introspect: (id, scope, now) =>
      guard('introspect', async () => {
        let keys = [k.session(id), k.locks]
        let [rec, locked] = (await introspectScript(keys.length, ...keys, now)) as [string | null, number]
        if (locked === 2) {
          keys = [k.session(id), ...lockKeys(scope)]
          ;[rec, locked] = (await introspectScript(keys.length, ...keys, now)) as [string | null, number]
        }
        return { rec: await one(id, rec), locked: locked !== 0 }
      }),
    casSession: (next, expectedV, { checkLocks, retentionMs, now, from }) =>
      guard('update', async () => {
        const deadline = isFinal(next.status) ? '' : next.expires_at
        const pending = next.status === 'pending_approval' ? '1' : '0'
        const pxat = recordExpiry(next.expires_at, retentionMs)
        const packed = storedRecord(next)
        await profiles.save([{ packed, pxat }])
        const args = [expectedV, packed.text, next.id, deadline, pxat, now, pending, fromList(from)]
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
        const [dropped, ...found] = (await claimDueScript(keys.length, ...keys, now, until, ...ids)) as [
          number,
          ...string[],
        ]
        // Pairs: id, record.
        const claimed = found.filter((_, i) => i % 2 === 0)
        // One record that cannot be read (its profile lost with a failover) must not hold up the
        // rest of the batch: it stays claimed, so it is tried again when its claim lapses.
        const unreadable: string[] = []
        const recs = await profiles.decode(
          claimed,
          found.filter((_, i) => i % 2 === 1),
          unreadable,
        )
        return {
          recs: recs.filter((r): r is SessionRecord => r !== null),
          dropped,
          ...(unreadable.length > 0 && { unreadable }),
        }
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
  }
}
