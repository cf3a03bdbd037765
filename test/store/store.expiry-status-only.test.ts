// An expiry written as a status-only update: the Redis store rewrites the version and status of
// the stored record in place instead of sending the record whole. What is stored must be exactly
// what the whole record would have written, and a change made meanwhile still wins.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SessionRecord } from '../../src/domain/index.js'
import { encodeRecord } from '../../src/store/codec.js'
import type { RedisStore } from '../../src/store/redis.js'
import type { SessionUpdate, Store } from '../../src/store/types.js'
import { makeRec } from '../support/records.js'
import { localRedisKind, memoryKind, type Fixture } from '../support/store-kinds.js'

const DAY = 86_400_000

describe.each([memoryKind, localRedisKind])('$name store: status-only expiry', (kind) => {
  let fx: Fixture
  let store: Store
  const expired = (r: SessionRecord): SessionUpdate => ({
    rec: { ...r, v: r.v + 1, status: 'expired' },
    expectedV: r.v,
    retentionMs: DAY,
    from: ['active', 'pending_approval', 'approved'],
    statusOnly: true,
  })
  const append = (updates: SessionUpdate[]) =>
    store.appendAudit('main', null, { seq: updates.length, hash: 'h' }, updates.map(String), DAY, {
      sessions: [],
      updates,
      now: fx.now(),
    })

  beforeEach(async () => {
    fx = await kind.open()
    store = fx.store
  })
  afterEach(async () => {
    await fx.close()
  })

  it('stores exactly what the whole record would have written', async () => {
    const now = fx.now()
    const recs = [
      makeRec(now, {
        status: 'active',
        expires_at: now - 1000,
        task: { id: 'T-1', description: 'say "hi" \u00e9' },
      }),
      makeRec(now, { status: 'pending_approval', expires_at: now - 1000, approvals: [] }),
      makeRec(now, { status: 'approved', v: 7, expires_at: now - 1000, justification: null, handle: null }),
    ]
    for (const r of recs) expect(await store.createSession(r, DAY, now)).toBe('ok')
    const { recs: claimed } = await store.claimDue(
      recs.map((r) => r.id),
      now,
      now + 15_000,
    )
    expect(await append(claimed.map(expired))).toBe('ok')
    const want = recs.map((r) => expired(r).rec)
    expect(await store.getSessions(recs.map((r) => r.id))).toEqual(want)
    expect(await store.countLive()).toEqual({ live: 0, pending: 0 })
    if (kind.storeKind === 'redis') {
      const raw = (store as RedisStore).redis
      const stored = await Promise.all(
        recs.map(async (r) => raw.get(((await raw.keys(`*{al}:s:${r.id}`)) as string[])[0] as string)),
      )
      expect(stored).toEqual(want.map(encodeRecord))
    }
  })

  it('a session revoked after the claim keeps its revocation', async () => {
    const now = fx.now()
    const a = makeRec(now, { status: 'active', expires_at: now - 1000 })
    expect(await store.createSession(a, DAY, now)).toBe('ok')
    const { recs: claimed } = await store.claimDue([a.id], now, now + 15_000)
    const revoked = { ...a, v: 1, status: 'revoked' as const, revoked_by: 'ops', revoked_at: now }
    expect(await store.casSession(revoked, 0, { checkLocks: false, retentionMs: DAY, now })).toBe('ok')
    expect(await append(claimed.map(expired))).toEqual({ refused: [{ index: 0, result: 'conflict' }] })
    expect(await store.getSession(a.id)).toEqual(revoked)
  })
})
