// One contract suite for every store: each assertion must hold for memory.ts and redis.ts alike,
// and for redis.ts on each Redis topology (test/store.contract.test.ts, test/ha.cluster.test.ts).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { scopeOf, type SessionRecord } from '../../src/domain/index.js'
import { StoreUnavailableError } from '../../src/errors.js'
import { ANY_SESSION, type CreateResult, type Store } from '../../src/store/types.js'
import { arrives, settlesWithin } from './bounded.js'
import { makeLock, makeRec, newId } from './records.js'
import type { Fixture, Kind } from './store-kinds.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR

const bump = (r: SessionRecord, over: Partial<SessionRecord> = {}): SessionRecord => ({
  ...r,
  ...over,
  v: r.v + 1,
})

const byId = <T extends { id: string }>(xs: T[]): T[] => [...xs].sort((a, b) => (a.id < b.id ? -1 : 1))

export function storeContract(kind: Kind) {
  let fx: Fixture
  let store: Store
  const create = (r: SessionRecord, now = r.created_at) => store.createSession(r, DAY, now)
  const cas = (next: SessionRecord, expectedV: number, now: number, checkLocks = false) =>
    store.casSession(next, expectedV, { checkLocks, retentionMs: DAY, now })

  beforeEach(async () => {
    fx = await kind.open()
    store = fx.store
  })
  afterEach(async () => {
    await fx.close()
  })

  it('reports its kind', () => {
    expect(store.kind).toBe(kind.storeKind ?? kind.name)
  })

  it('an approved gateway action is used once across handles, and only while the session is active', async () => {
    const now = fx.now()
    // A pending session whose action body says "status": "active" is still pending.
    const pending = makeRec(now, { action: { method: 'POST', path: '/', body: { status: 'active' } } })
    await create(pending)
    expect(await store.useAction(pending.id, now + DAY)).toBe(false)
    const active = makeRec(now, { status: 'active', jti: 'j1' })
    await create(active)
    const peer = await fx.peer()
    const both = await Promise.all([
      store.useAction(active.id, now + DAY),
      peer.useAction(active.id, now + DAY),
    ])
    expect(both.sort()).toEqual([false, true])
    expect(await store.useAction(active.id, now + DAY)).toBe(false)
    expect(await store.useAction('ses_missing', now + DAY)).toBe(false)
  })

  describe('sessions', () => {
    it('creates a session once and reads it back unchanged', async () => {
      const now = fx.now()
      const r = makeRec(now)
      expect(await create(r)).toBe('ok')
      expect(await create({ ...r, agent: 'other-bot' })).toBe('exists')
      expect(await store.getSession(r.id)).toEqual(r)
      expect(await store.getSession('ses_missing')).toBeNull()
    })

    it('getSessions keeps the order and gives null for missing ids', async () => {
      const now = fx.now()
      const a = makeRec(now, { status: 'active', jti: 'jti-a', handle: null, approvals: [] })
      const b = makeRec(now, { on_behalf_of: 'alice', task: { id: 'T-2', description: null } })
      expect(await create(a)).toBe('ok')
      expect(await create(b)).toBe('ok')
      expect(await store.getSessions([b.id, 'ses_missing', a.id])).toEqual([b, null, a])
      expect(await store.getSessions([])).toEqual([])
    })
  })

  describe('locks', () => {
    it('a lock on agent, environment+provider or task blocks creation and shows in introspect', async () => {
      const now = fx.now()
      const locks = [
        makeLock(now, { agent: 'rogue-bot' }),
        makeLock(now, { environment: 'prod', provider: 'aws' }),
        makeLock(now, { task_id: 'INC-9' }),
      ]
      for (const l of locks) await store.putLock(l)

      const cases: [Partial<SessionRecord>, CreateResult][] = [
        [{ agent: 'rogue-bot' }, 'locked'],
        [{ agent: 'rogue-bot', environment: 'prod', provider: 'gcp' }, 'locked'],
        [{ environment: 'prod', provider: 'aws' }, 'locked'],
        [{ environment: 'prod', provider: 'gcp' }, 'ok'],
        [{ environment: 'staging', provider: 'aws' }, 'ok'],
        [{ task: { id: 'INC-9', description: null } }, 'locked'],
        [{ task: { id: 'INC-10', description: null } }, 'ok'],
        [{}, 'ok'],
      ]
      for (const [over, want] of cases) {
        const r = makeRec(now, over)
        const label = JSON.stringify(over)
        expect(await create(r), label).toBe(want)
        const seen = await store.introspect(r.id, scopeOf(r), now)
        expect(seen.locked, label).toBe(want === 'locked')
        expect(seen.rec, label).toEqual(want === 'ok' ? r : null)
      }
      expect(byId(await store.listLocks())).toEqual(byId(locks))
    })

    it('a lock whose expires_at has passed does not lock', async () => {
      const now = fx.now()
      await store.putLock(makeLock(now, { agent: 'build-bot', expires_at: now - 1 }))
      await store.putLock(makeLock(now, { environment: 'staging', expires_at: now }))
      const r = makeRec(now)
      expect(await create(r)).toBe('ok')
      expect(await store.introspect(r.id, scopeOf(r), now)).toEqual({ rec: r, locked: false })

      const timed = makeLock(now, { task_id: 'JIRA-1', expires_at: now + 60_000 })
      await store.putLock(timed)
      expect((await store.introspect(r.id, scopeOf(r), now)).locked).toBe(true)
      expect(await create(makeRec(now))).toBe('locked')
      // The same lock seen after its expiry.
      expect((await store.introspect(r.id, scopeOf(r), now + 60_000)).locked).toBe(false)
      expect(await create(makeRec(now), now + 60_000)).toBe('ok')
      expect(await store.listLocks()).toHaveLength(3)
    })

    it('deleteLock returns the lock once, then null, and lifts it', async () => {
      const now = fx.now()
      const keep = makeLock(now, { agent: 'other-bot', reason: 'keep' })
      const l = makeLock(now, { agent: 'build-bot', environment: 'staging', expires_at: now + HOUR })
      await store.putLock(keep)
      await store.putLock(l)
      expect(await create(makeRec(now))).toBe('locked')

      expect(await store.deleteLock(l.id)).toEqual(l)
      expect(await store.deleteLock(l.id)).toBeNull()
      expect(await store.deleteLock('lck_unknown')).toBeNull()
      expect(await store.listLocks()).toEqual([keep])
      const r = makeRec(now)
      expect(await create(r)).toBe('ok')
      expect((await store.introspect(r.id, scopeOf(r), now)).locked).toBe(false)
    })
  })

  describe('casSession', () => {
    it('replaces only from the expected version of an existing record', async () => {
      const now = fx.now()
      const r0 = makeRec(now)
      expect(await create(r0)).toBe('ok')

      const r1 = bump(r0, { status: 'approved', approvals: [...r0.approvals] })
      expect(await cas(r1, 0, now)).toBe('ok')
      expect(await store.getSession(r0.id)).toEqual(r1)

      expect(await cas(bump(r0, { status: 'denied', denied_by: 'carol' }), 0, now)).toBe('conflict')
      expect(await cas(bump(r1, { status: 'denied' }), 7, now)).toBe('conflict')
      expect(await store.getSession(r0.id)).toEqual(r1)

      expect(await cas(bump(makeRec(now)), 0, now)).toBe('missing')
    })

    it('with checkLocks refuses a covered scope; without it writes anyway', async () => {
      const now = fx.now()
      const r0 = makeRec(now)
      expect(await create(r0)).toBe('ok')
      await store.putLock(makeLock(now, { provider: 'internal-api' }))

      const r1 = bump(r0, { status: 'active', jti: 'jti-1' })
      expect(await cas(r1, 0, now, true)).toBe('locked')
      expect(await store.getSession(r0.id)).toEqual(r0)

      const other = bump(r0, { provider: 'other-api' })
      expect(await cas(other, 0, now, true)).toBe('ok')
      expect(await store.getSession(r0.id)).toEqual(other)

      const revoked = bump(other, {
        provider: 'internal-api',
        status: 'revoked',
        revoked_by: 'ops',
        revoked_at: now,
      })
      expect(await cas(revoked, 1, now, false)).toBe('ok')
      expect(await store.getSession(r0.id)).toEqual(revoked)
    })

    it('20 concurrent writers from the same version: exactly one wins', async () => {
      const now = fx.now()
      const r0 = makeRec(now)
      expect(await create(r0)).toBe('ok')
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => cas(bump(r0, { justification: `writer ${i}` }), 0, now)),
      )
      expect(results.filter((x) => x === 'ok')).toHaveLength(1)
      expect(results.filter((x) => x === 'conflict')).toHaveLength(19)
      const after = await store.getSession(r0.id)
      expect(after).toMatchObject({ v: 1, justification: `writer ${results.indexOf('ok')}` })
    })
  })

  describe('deadlines', () => {
    it('lists unfinished due sessions oldest first, honours limit, counts live and pending', async () => {
      const now = fx.now()
      const e = makeRec(now, { status: 'active', expires_at: now - 5000 })
      const a = makeRec(now, { status: 'active', expires_at: now - 3000 })
      const c = makeRec(now, { status: 'approved', expires_at: now - 2000 })
      const b = makeRec(now, { status: 'pending_approval', expires_at: now - 1000 })
      const f = makeRec(now, { status: 'issuing', expires_at: now })
      const d = makeRec(now, { status: 'pending_approval', expires_at: now + 60_000 })
      for (const r of [d, b, f, a, e, c]) expect(await create(r)).toBe('ok')

      expect(await store.dueSessionIds(now, 100)).toEqual([e.id, a.id, c.id, b.id, f.id])
      expect(await store.dueSessionIds(now, 2)).toEqual([e.id, a.id])
      expect(await store.dueSessionIds(now - 4000, 100)).toEqual([e.id])
      expect(await store.countLive()).toEqual({ live: 6, pending: 2 })

      // A final status leaves the work lists (the record itself stays readable).
      const eRevoked = bump(e, { status: 'revoked', revoked_by: 'ops', revoked_at: now })
      expect(await cas(eRevoked, 0, now)).toBe('ok')
      expect(await store.getSession(e.id)).toEqual(eRevoked)
      expect(await store.dueSessionIds(now, 100)).toEqual([a.id, c.id, b.id, f.id])
      expect([...(await store.liveSessionIds())].sort()).toEqual([a.id, b.id, c.id, d.id, f.id].sort())
      expect(await store.countLive()).toEqual({ live: 5, pending: 2 })

      expect(await cas(bump(b, { status: 'denied', denied_by: 'bob' }), 0, now)).toBe('ok')
      expect(await store.countLive()).toEqual({ live: 4, pending: 1 })

      // Approving moves the deadline and leaves the pending count.
      expect(await cas(bump(d, { status: 'approved', expires_at: now - 500 }), 0, now)).toBe('ok')
      expect(await store.countLive()).toEqual({ live: 4, pending: 0 })
      expect(await store.dueSessionIds(now, 100)).toEqual([a.id, c.id, d.id, f.id])
      expect([...(await store.liveSessionIds())].sort()).toEqual([a.id, c.id, d.id, f.id].sort())
    })
  })

  describe('trimSessionIndex', () => {
    it('drops the listing entries of sessions created before the cutoff whose records are gone, and only those', async () => {
      const now = fx.now()
      // Records outlive their last deadline by the retention they were written with: 1 ms here.
      const gone = makeRec(now, { status: 'expired', created_at: now - 3 * DAY, expires_at: now - 2 * DAY })
      const old = makeRec(now, { status: 'active', created_at: now - 3 * DAY, expires_at: now + HOUR })
      const recentGone = makeRec(now, { status: 'expired', created_at: now - HOUR, expires_at: now - HOUR })
      for (const r of [gone, old, recentGone]) expect(await store.createSession(r, 1, now)).toBe('ok')
      const listed = async () => [...(await store.listSessionIds(null, 100)).ids].sort()
      expect(await listed()).toEqual([gone.id, old.id, recentGone.id].sort())

      expect(await store.trimSessionIndex(now - DAY)).toBe(1)
      // The old session whose record is still there stays listed; so does a recent one (its
      // entry goes once it is older than the cutoff).
      expect(await listed()).toEqual([old.id, recentGone.id].sort())
      expect(await store.getSession(old.id)).toEqual(old)
      expect(await store.trimSessionIndex(now - DAY)).toBe(0)
      expect(await store.trimSessionIndex(now)).toBe(1)
      expect(await listed()).toEqual([old.id])
    })

    it('an empty index trims nothing', async () => {
      expect(await store.trimSessionIndex(fx.now())).toBe(0)
    })
  })

  describe('ping', () => {
    it('resolves while the store answers from its primary', async () => {
      await expect(store.ping()).resolves.toBeUndefined()
      await expect((await fx.peer()).ping()).resolves.toBeUndefined()
    })

    // A store in memory always answers; a Redis one can lose its connection.
    if (kind.storeKind === 'redis')
      it('rejects (a 503) once the store cannot answer', async () => {
        const peer = await fx.peer()
        await peer.close()
        const e = await peer.ping().catch((x: unknown) => x)
        expect(e).toBeInstanceOf(StoreUnavailableError)
        expect((e as Error).message).toMatch(/^Redis ping failed/)
        await expect(store.ping()).resolves.toBeUndefined()
      })
  })

  describe('listSessionIds', () => {
    const walk = async (limit: number) => {
      const ids: string[] = []
      const sizes: number[] = []
      let cursor: string | null = null
      for (let i = 0; i < 100; i++) {
        const page: { ids: string[]; next: string | null } = await store.listSessionIds(cursor, limit)
        ids.push(...page.ids)
        sizes.push(page.ids.length)
        if (page.next === null) return { ids, sizes }
        cursor = page.next
      }
      throw new Error('the cursor never ended')
    }

    it('pages cover every id exactly once, newest first, across created_at ties', async () => {
      const now = fx.now()
      // Groups of three share one created_at ms; page boundaries fall inside groups.
      const recs = Array.from({ length: 25 }, (_, i) =>
        makeRec(now, { created_at: now - 1000 * Math.floor(i / 3) }),
      )
      for (const r of [...recs].reverse()) expect(await create(r, now)).toBe('ok')
      const createdAt = new Map(recs.map((r) => [r.id, r.created_at]))
      const allIds = recs.map((r) => r.id).sort()

      const seven = await walk(7)
      expect(seven.sizes).toEqual([7, 7, 7, 4])
      expect(new Set(seven.ids).size).toBe(25)
      expect([...seven.ids].sort()).toEqual(allIds)
      const times = seven.ids.map((id) => createdAt.get(id) as number)
      expect(times).toEqual([...times].sort((x, y) => y - x))

      // Other page sizes give the same order; an exact last page ends with next: null.
      expect((await walk(1)).ids).toEqual(seven.ids)
      const five = await walk(5)
      expect(five.sizes).toEqual([5, 5, 5, 5, 5])
      expect(five.ids).toEqual(seven.ids)
      expect(await store.listSessionIds(null, 25)).toEqual({ ids: seven.ids, next: null })
      expect(await store.listSessionIds(null, 100)).toEqual({ ids: seven.ids, next: null })
    })

    it('cursorAfter(rec) continues a listing right after that session, ties included', async () => {
      const now = fx.now()
      const recs = Array.from({ length: 9 }, (_, i) =>
        makeRec(now, { created_at: now - 1000 * Math.floor(i / 3) }),
      )
      for (const r of recs) expect(await create(r, now)).toBe('ok')
      const all = (await store.listSessionIds(null, 100)).ids
      const byId = new Map(recs.map((r) => [r.id, r]))
      for (let i = 0; i < all.length; i++) {
        const page = await store.listSessionIds(null, i + 1)
        const after = store.cursorAfter(byId.get(all[i] as string) as SessionRecord)
        if (page.next !== null) expect(after).toBe(page.next)
        expect((await store.listSessionIds(after, 100)).ids).toEqual(all.slice(i + 1))
      }
    })

    it('100 sessions sharing one created_at ms page completely (ties larger than a page)', async () => {
      const now = fx.now()
      const recs = Array.from({ length: 100 }, () => makeRec(now, { created_at: now }))
      for (const r of recs) expect(await create(r, now)).toBe('ok')
      const ten = await walk(10)
      expect(ten.sizes).toEqual(Array(10).fill(10))
      expect([...ten.ids].sort()).toEqual(recs.map((r) => r.id).sort())
    })

    it('an empty store lists nothing', async () => {
      expect(await store.listSessionIds(null, 7)).toEqual({ ids: [], next: null })
    })
  })

  describe('audit', () => {
    const ev = (chain: string, seq: number) => JSON.stringify({ chain, seq, hash: `${chain}-${seq}` })
    const head = (chain: string, seq: number) => ({ seq, hash: `${chain}-${seq}` })
    const anchorOf = (json: string) => JSON.parse(json) as { chain: string; seq: number; hash: string }
    const append = (chain: string, from: number | null, to: number) =>
      store.appendAudit(
        chain,
        from === null ? null : head(chain, from),
        head(chain, to),
        Array.from({ length: to - (from ?? 0) }, (_, i) => ev(chain, (from ?? 0) + i + 1)),
        DAY,
      )
    const jsons = async () => (await store.readAudit({ count: 1000 })).map((e) => e.json)

    it('appends only from the current head of a chain', async () => {
      expect(await store.auditHead('main')).toBeNull()
      expect(await append('main', null, 1)).toBe('ok')
      expect(await append('main', null, 1)).toBe('conflict')
      expect(await store.auditHead('main')).toEqual(head('main', 1))

      expect(await append('main', 1, 3)).toBe('ok')
      expect(await append('main', 1, 2)).toBe('conflict')
      expect(
        await store.appendAudit('main', { seq: 3, hash: 'wrong' }, head('main', 4), [ev('main', 4)], DAY),
      ).toBe('conflict')
      expect(await store.auditHead('main')).toEqual(head('main', 3))

      // Chains are independent.
      expect(await append('side', null, 1)).toBe('ok')
      expect(await store.auditHead('side')).toEqual(head('side', 1))
      expect(await store.auditHead('main')).toEqual(head('main', 3))
      expect(await jsons()).toEqual([ev('main', 1), ev('main', 2), ev('main', 3), ev('side', 1)])
    })

    it('reads forward and in reverse, paging with afterPos and count', async () => {
      expect(await store.readAudit({ count: 10 })).toEqual([])
      expect(await append('main', null, 4)).toBe('ok')
      expect(await append('main', 4, 7)).toBe('ok')
      expect(await append('main', 7, 10)).toBe('ok')
      const all = await store.readAudit({ count: 1000 })
      expect(all.map((e) => e.json)).toEqual(Array.from({ length: 10 }, (_, i) => ev('main', i + 1)))
      expect(new Set(all.map((e) => e.pos)).size).toBe(10)

      const forward: string[][] = []
      let after: string | undefined
      for (;;) {
        const page = await store.readAudit({ count: 4, ...(after !== undefined && { afterPos: after }) })
        if (page.length === 0) break
        forward.push(page.map((e) => e.json))
        after = page.at(-1)?.pos
      }
      expect(forward.map((p) => p.length)).toEqual([4, 4, 2])
      expect(forward.flat()).toEqual(all.map((e) => e.json))

      const backward: string[][] = []
      after = undefined
      for (;;) {
        const page = await store.readAudit({
          count: 4,
          reverse: true,
          ...(after !== undefined && { afterPos: after }),
        })
        if (page.length === 0) break
        backward.push(page.map((e) => e.json))
        after = page.at(-1)?.pos
      }
      expect(backward.map((p) => p.length)).toEqual([4, 4, 2])
      expect(backward.flat()).toEqual(all.map((e) => e.json).reverse())

      expect(await store.readAudit({ count: 3, reverse: true })).toEqual(all.slice(-3).reverse())
      expect(await store.readAudit({ count: 2, afterPos: all[4]?.pos as string })).toEqual(all.slice(5, 7))
      expect(await store.readAudit({ count: 2, afterPos: all[4]?.pos as string, reverse: true })).toEqual(
        [...all.slice(2, 4)].reverse(),
      )
      expect(await store.readAudit({ count: 100, sinceMs: 0 })).toEqual(all)
      expect(await store.readAudit({ count: 100, sinceMs: Date.now() + DAY })).toEqual([])
    })

    it('trimAudit drops events older than beforeMs and anchors each chain at its last trimmed event', async () => {
      const anchorCalls = vi.fn(anchorOf)
      expect(await store.trimAudit(Date.now() + DAY, anchorCalls)).toBe(0)
      expect(await store.auditAnchors()).toEqual({})

      expect(await append('a', null, 2)).toBe('ok')
      expect(await append('b', null, 1)).toBe('ok')
      const cut = await fx.passAuditTime()
      expect(await append('a', 2, 3)).toBe('ok')
      expect(await append('c', null, 1)).toBe('ok')

      // Events stamped at `cut` itself are not older than it and stay.
      expect(await store.trimAudit(cut, anchorCalls)).toBe(3)
      expect(await jsons()).toEqual([ev('a', 3), ev('c', 1)])
      expect(await store.auditAnchors()).toEqual({ a: head('a', 2), b: head('b', 1) })
      expect(await store.auditHead('a')).toEqual(head('a', 3))

      expect(await store.trimAudit(Date.now() + DAY, anchorCalls)).toBe(2)
      expect(await jsons()).toEqual([])
      expect(await store.auditAnchors()).toEqual({ a: head('a', 3), b: head('b', 1), c: head('c', 1) })
      expect(await store.trimAudit(Date.now() + DAY, anchorCalls)).toBe(0)
      expect(anchorCalls).toHaveBeenCalledTimes(5)

      // The chains go on from their heads.
      expect(await append('a', 3, 4)).toBe('ok')
      expect(await jsons()).toEqual([ev('a', 4)])
    })

    describe('with sessions created in the same step', () => {
      const appendWith = (from: number | null, to: number, recs: SessionRecord[], now: number) =>
        store.appendAudit(
          'main',
          from === null ? null : head('main', from),
          head('main', to),
          Array.from({ length: to - (from ?? 0) }, (_, i) => ev('main', (from ?? 0) + i + 1)),
          DAY,
          { sessions: recs.map((rec) => ({ rec, retentionMs: DAY })), now },
        )
      /** Nothing of `recs` and no event after `seq` exists. */
      const expectUnwritten = async (recs: SessionRecord[], seq: number) => {
        expect(await store.getSessions(recs.map((r) => r.id))).toEqual(recs.map(() => null))
        expect(await store.auditHead('main')).toEqual(seq === 0 ? null : head('main', seq))
        expect(await jsons()).toEqual(Array.from({ length: seq }, (_, i) => ev('main', i + 1)))
      }

      it('writes the sessions, their indexes and the events together', async () => {
        const now = fx.now()
        const active = makeRec(now, { status: 'active', expires_at: now + HOUR })
        const pending = makeRec(now + 1, { expires_at: now + 2 * HOUR })
        expect(await appendWith(null, 2, [active, pending], now)).toBe('ok')
        expect(await store.getSessions([active.id, pending.id])).toEqual([active, pending])
        expect(await store.auditHead('main')).toEqual(head('main', 2))
        expect(await jsons()).toEqual([ev('main', 1), ev('main', 2)])
        expect(await store.countLive()).toEqual({ live: 2, pending: 1 })
        expect((await store.listSessionIds(null, 10)).ids).toEqual([pending.id, active.id])
        expect(await store.dueSessionIds(now + HOUR, 10)).toEqual([active.id])
      })

      it('announces the sessions it creates on the change feed, to every instance', async () => {
        const now = fx.now()
        const peer = await fx.peer()
        // More than one message holds (500 ids): the first and the last are both announced.
        const recs = Array.from({ length: 501 }, (_, i) => makeRec(now + i, { status: 'active' }))
        const first = recs[0] as SessionRecord
        const last = recs[500] as SessionRecord
        const onPeer = await peer.watchChange(first.id, 60_000)
        const here = await store.watchChange(last.id, 60_000)
        const lists = await peer.watchChange(ANY_SESSION, 60_000)
        expect(await appendWith(null, 1, recs, now)).toBe('ok')
        await arrives(onPeer.changed, 'a watcher on another instance told of a session the append created')
        await arrives(here.changed, 'a watcher told of the 501st session the append created')
        await arrives(lists.changed, 'a watcher of any session told of the append')
      })

      it('announces nothing when it writes nothing', async () => {
        const now = fx.now()
        const peer = await fx.peer()
        expect(await appendWith(null, 1, [], now)).toBe('ok')
        const r = makeRec(now)
        const w = await peer.watchChange(r.id, 60_000)
        expect(await appendWith(null, 2, [r], now)).toBe('conflict')
        expect(await settlesWithin(w.changed, 200), 'a refused append announced its session').toBe(false)
      })

      it('writes nothing when one session exists already, and says which', async () => {
        const now = fx.now()
        const taken = makeRec(now)
        expect(await create(taken)).toBe('ok')
        const fresh = makeRec(now)
        expect(await appendWith(null, 2, [fresh, { ...taken, agent: 'other-bot' }], now)).toEqual({
          refused: [{ index: 1, result: 'exists' }],
        })
        await expectUnwritten([fresh], 0)
        expect(await store.getSession(taken.id)).toEqual(taken)
      })

      it('writes nothing when a lock covers one session, and says which', async () => {
        const now = fx.now()
        await store.putLock(makeLock(now, { agent: 'other-bot' }))
        await store.putLock(makeLock(now, { environment: 'staging', expires_at: now })) // lapsed
        const ok = makeRec(now, { environment: 'staging' })
        const locked = makeRec(now, { agent: 'other-bot' })
        expect(await appendWith(null, 3, [ok, locked, { ...locked, id: newId('ses') }], now)).toEqual({
          refused: [
            { index: 1, result: 'locked' },
            { index: 2, result: 'locked' },
          ],
        })
        await expectUnwritten([ok, locked], 0)
        // Without the covered ones it goes through, locks and all.
        expect(await appendWith(null, 1, [ok], now)).toBe('ok')
        expect(await store.getSession(ok.id)).toEqual(ok)
      })

      it('writes nothing when the chain head moved', async () => {
        const now = fx.now()
        expect(await appendWith(null, 1, [], now)).toBe('ok')
        const r = makeRec(now)
        expect(await appendWith(null, 1, [r], now)).toBe('conflict')
        await expectUnwritten([r], 1)
        expect(await appendWith(1, 2, [r], now)).toBe('ok')
        expect(await store.getSession(r.id)).toEqual(r)
      })
    })
  })

  describe('acquireLease', () => {
    it('one owner at a time; the holder renews; another owner takes over after the ttl', async () => {
      expect(await store.acquireLease('sweeper', 'owner-a', 60_000)).toBe(true)
      expect(await store.acquireLease('sweeper', 'owner-b', 60_000)).toBe(false)
      expect(await store.acquireLease('reaper', 'owner-b', 60_000)).toBe(true)
      // Renewing with a short ttl, then letting it lapse.
      expect(await store.acquireLease('sweeper', 'owner-a', 50)).toBe(true)
      await fx.expireLease('sweeper', 50)
      expect(await store.acquireLease('sweeper', 'owner-b', 60_000)).toBe(true)
      expect(await store.acquireLease('sweeper', 'owner-a', 60_000)).toBe(false)
      expect(await store.acquireLease('reaper', 'owner-a', 60_000)).toBe(false)
    })
  })

  describe('change feed', () => {
    it('wakes a watcher when its session changes, from this instance or another one', async () => {
      const peer = await fx.peer()
      const fromPeer = await store.watchChange('ses_watched', 60_000)
      const alsoWatching = await store.watchChange('ses_watched', 60_000)
      peer.publishChange('ses_watched')
      await arrives(fromPeer.changed, "a watcher woken by another instance's change")
      await arrives(alsoWatching.changed, 'a second watcher of the session woken by the same change')

      const local = await store.watchChange('ses_watched', 60_000)
      store.publishChange('ses_watched')
      await arrives(local.changed, "a watcher woken by its own instance's change")
    })

    it('resolves after its timeout when nothing happens', async () => {
      const started = performance.now()
      const w = await store.watchChange('ses_quiet', 50)
      await arrives(w.changed, 'the end of a 50 ms watch')
      expect(performance.now() - started).toBeGreaterThanOrEqual(45)
    })

    it('ignores changes of other sessions', async () => {
      const peer = await fx.peer()
      const a = await store.watchChange('ses_a', 60_000)
      const b = await store.watchChange('ses_b', 60_000)
      peer.publishChange('ses_b')
      await arrives(b.changed, 'a watcher of ses_b woken by its change')
      expect(await settlesWithin(a.changed, 100), 'a watcher of ses_a woken by a change of ses_b').toBe(false)
      peer.publishChange('ses_a')
      await arrives(a.changed, 'a watcher of ses_a woken by its change')
    })

    it('resolves when the signal aborts', async () => {
      const ac = new AbortController()
      const w = await store.watchChange('ses_abort', 60_000, ac.signal)
      expect(await settlesWithin(w.changed, 20), 'a watch ended before its signal aborted').toBe(false)
      ac.abort()
      await arrives(w.changed, 'the end of a watch whose signal aborted')
    })
  })
}
