// The store's side of bulk expiry, for both stores: claiming due sessions (disjoint across
// replicas), dropping index entries of records that outlived the retention, and expiring a batch
// with its audit events in one atomic append that a concurrent revoke wins over.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SessionRecord } from '../../src/domain/index.js'
import type { SessionUpdate, Store } from '../../src/store/types.js'
import { makeRec } from '../support/records.js'
import { localRedisKind, memoryKind, type Fixture } from '../support/store-kinds.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR

describe.each([memoryKind, localRedisKind])('$name store: expiry', (kind) => {
  let fx: Fixture
  let store: Store
  const create = (r: SessionRecord, retentionMs = DAY) => store.createSession(r, retentionMs, r.created_at)
  const expired = (r: SessionRecord): SessionUpdate => ({
    rec: { ...r, v: r.v + 1, status: 'expired' },
    expectedV: r.v,
    retentionMs: DAY,
  })
  const ev = (seq: number) => JSON.stringify({ chain: 'main', seq, hash: `h${seq}` })
  const jsons = async () => (await store.readAudit({ count: 1000 })).map((e) => e.json)

  beforeEach(async () => {
    fx = await kind.open()
    store = fx.store
  })
  afterEach(async () => {
    await fx.close()
  })

  it('claimDue takes due sessions once, hides them until the claim ends, and a write ends a claim', async () => {
    const now = fx.now()
    const a = makeRec(now, { status: 'active', expires_at: now - 2000 })
    const b = makeRec(now, { status: 'pending_approval', expires_at: now - 1000 })
    const later = makeRec(now, { status: 'active', expires_at: now + HOUR })
    for (const r of [a, b, later]) expect(await create(r)).toBe('ok')
    const peer = await fx.peer()

    const ids = await store.dueSessionIds(now, 10)
    expect(ids).toEqual([a.id, b.id])
    const first = await store.claimDue([...ids, later.id, 'ses_unknown'], now, now + 15_000)
    expect(first).toEqual({ recs: [a, b], dropped: 0 })
    // Claimed: neither due nor claimable again, here or on another replica, until the claim ends.
    expect(await store.dueSessionIds(now, 10)).toEqual([])
    expect(await peer.claimDue(ids, now, now + 15_000)).toEqual({ recs: [], dropped: 0 })
    expect(await store.expiryLag(now)).toEqual({ due: 0, oldestDeadline: null })
    expect(await store.countLive()).toEqual({ live: 3, pending: 1 })

    // A claim that lapsed (its replica died) comes back.
    expect(await peer.claimDue(ids, now + 15_000, now + 30_000)).toEqual({ recs: [a, b], dropped: 0 })
    // A write replaces the claim: a revoked session leaves the work list, an approved one is due
    // again at its new deadline.
    const revoked = { ...a, v: 1, status: 'revoked' as const, revoked_by: 'ops', revoked_at: now }
    const opts = { checkLocks: false, retentionMs: DAY, now }
    expect(await store.casSession(revoked, 0, opts)).toBe('ok')
    const approved = { ...b, v: 1, status: 'approved' as const, expires_at: now - 500 }
    expect(await store.casSession(approved, 0, opts)).toBe('ok')
    expect(await store.dueSessionIds(now, 10)).toEqual([b.id])
    expect(await store.expiryLag(now)).toEqual({ due: 1, oldestDeadline: now - 500 })
  })

  it('two replicas claiming the same backlog at once take disjoint batches that cover it', async () => {
    const now = fx.now()
    const recs = Array.from({ length: 300 }, (_, i) =>
      makeRec(now, { status: 'active', expires_at: now - 1 - (i % 17) }),
    )
    for (const r of recs) expect(await create(r)).toBe('ok')
    const peer = await fx.peer()
    const drain = async (s: Store) => {
      const mine: string[] = []
      for (;;) {
        const ids = await s.dueSessionIds(now, 40)
        if (ids.length === 0) return mine
        const { recs: got } = await s.claimDue(ids, now, now + 15_000)
        mine.push(...got.map((r) => r.id))
      }
    }
    const [x, y] = await Promise.all([drain(store), drain(peer)])
    expect(new Set([...x, ...y]).size).toBe(x.length + y.length)
    expect([...x, ...y].sort()).toEqual(recs.map((r) => r.id).sort())
  })

  it('a due session whose record outlived the retention leaves every index', async () => {
    const now = fx.now()
    // Deadline two hours ago, kept one hour after it: the record is gone, its index entries are not.
    const gone = makeRec(now - 3 * HOUR, { status: 'pending_approval', expires_at: now - 2 * HOUR })
    const kept = makeRec(now, { status: 'active', expires_at: now - 1000 })
    expect(await create(gone, HOUR)).toBe('ok')
    expect(await create(kept)).toBe('ok')
    expect(await store.getSession(gone.id)).toBeNull()
    expect(await store.countLive()).toEqual({ live: 2, pending: 1 })
    expect(await store.expiryLag(now)).toEqual({ due: 2, oldestDeadline: now - 2 * HOUR })

    const ids = await store.dueSessionIds(now, 10)
    expect(ids).toEqual([gone.id, kept.id])
    expect(await store.claimDue(ids, now, now + 15_000)).toEqual({ recs: [kept], dropped: 1 })
    expect(await store.countLive()).toEqual({ live: 1, pending: 0 })
    expect(await store.liveSessionIds()).toEqual([kept.id])
    expect((await store.listSessionIds(null, 10)).ids).toEqual([kept.id])
  })

  describe('expiring a batch in the audit append', () => {
    const appendUpdates = (from: number, to: number, updates: SessionUpdate[]) =>
      store.appendAudit(
        'main',
        from === 0 ? null : { seq: from, hash: `h${from}` },
        { seq: to, hash: `h${to}` },
        Array.from({ length: to - from }, (_, i) => ev(from + i + 1)),
        DAY,
        { sessions: [], updates, now: fx.now() },
      )

    it('writes the records, their indexes and the events together', async () => {
      const now = fx.now()
      const a = makeRec(now, { status: 'active', expires_at: now - 1000 })
      const b = makeRec(now, { status: 'pending_approval', expires_at: now - 1000 })
      for (const r of [a, b]) expect(await create(r)).toBe('ok')
      expect(await appendUpdates(0, 2, [expired(a), expired(b)])).toBe('ok')
      expect(await store.getSessions([a.id, b.id])).toEqual([expired(a).rec, expired(b).rec])
      expect(await store.countLive()).toEqual({ live: 0, pending: 0 })
      expect(await store.dueSessionIds(now, 10)).toEqual([])
      expect(await jsons()).toEqual([ev(1), ev(2)])
    })

    it('a session revoked after the claim keeps its revocation, and nothing of the batch is written', async () => {
      const now = fx.now()
      const recs = [0, 1, 2].map(() => makeRec(now, { status: 'active', expires_at: now - 1000 }))
      for (const r of recs) expect(await create(r)).toBe('ok')
      const { recs: claimed } = await store.claimDue(
        recs.map((r) => r.id),
        now,
        now + 15_000,
      )
      expect(claimed).toHaveLength(3)
      // Another replica revokes the second one while the batch is being prepared.
      const revoked = { ...recs[1]!, v: 1, status: 'revoked' as const, revoked_by: 'ops', revoked_at: now }
      const opts = { checkLocks: false, retentionMs: DAY, now }
      expect(await store.casSession(revoked, 0, opts)).toBe('ok')

      expect(await appendUpdates(0, 3, claimed.map(expired))).toEqual({
        refused: [{ index: 1, result: 'conflict' }],
      })
      expect(await store.getSessions(recs.map((r) => r.id))).toEqual([recs[0], revoked, recs[2]])
      expect(await store.auditHead('main')).toBeNull()
      expect(await jsons()).toEqual([])

      // Without the revoked one the batch goes through; the revocation stands.
      const rest = [claimed[0]!, claimed[2]!]
      expect(await appendUpdates(0, 2, rest.map(expired))).toBe('ok')
      expect(await store.getSessions(recs.map((r) => r.id))).toEqual([
        expired(recs[0]!).rec,
        revoked,
        expired(recs[2]!).rec,
      ])
      expect(await store.countLive()).toEqual({ live: 0, pending: 0 })
    })

    it('refuses an update of a record that is gone, numbered after the creates', async () => {
      const now = fx.now()
      const fresh = makeRec(now)
      const ghost = makeRec(now, { status: 'active', expires_at: now - 1000 })
      const r = await store.appendAudit('main', null, { seq: 1, hash: 'h1' }, [ev(1)], DAY, {
        sessions: [{ rec: fresh, retentionMs: DAY }],
        updates: [expired(ghost)],
        now,
      })
      expect(r).toEqual({ refused: [{ index: 1, result: 'missing' }] })
      expect(await store.getSessions([fresh.id, ghost.id])).toEqual([null, null])
    })
  })
})
