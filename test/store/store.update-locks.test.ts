// An update written in the audit append may be refused when a lock covers its session (a claim):
// then nothing of the append is written, and the refusal names it, numbered after the creates.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SessionRecord } from '../../src/domain/index.js'
import type { SessionUpdate, Store } from '../../src/store/types.js'
import { makeLock, makeRec } from '../support/records.js'
import { localRedisKind, memoryKind, type Fixture } from '../support/store-kinds.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR

describe.each([memoryKind, localRedisKind])('$name store: an update that checks locks', (kind) => {
  let fx: Fixture
  let store: Store
  beforeEach(async () => {
    fx = await kind.open()
    store = fx.store
  })
  afterEach(async () => fx.close())

  const ev = (seq: number) => JSON.stringify({ chain: 'main', seq, hash: `h${seq}` })
  const claimed = (r: SessionRecord, checkLocks: boolean): SessionUpdate => ({
    rec: { ...r, v: r.v + 1, status: 'active' },
    expectedV: r.v,
    retentionMs: DAY,
    from: ['approved'],
    checkLocks,
  })
  const append = (to: number, creates: SessionRecord[], updates: SessionUpdate[]) =>
    store.appendAudit(
      'main',
      to === 1 ? null : { seq: to - 1, hash: `h${to - 1}` },
      { seq: to, hash: `h${to}` },
      [ev(to)],
      DAY,
      { sessions: creates.map((rec) => ({ rec, retentionMs: DAY })), updates, now: fx.now() },
    )

  it('is refused under a lock, with nothing of the append written; unchecked or unlocked, it lands', async () => {
    const now = fx.now()
    const approved = (over: Partial<SessionRecord> = {}) =>
      makeRec(now, { status: 'approved', expires_at: now + HOUR, ...over })
    const covered = approved({ agent: 'other-bot' })
    const free = approved()
    for (const r of [covered, free]) expect(await store.createSession(r, DAY, now)).toBe('ok')
    await store.putLock(makeLock(now, { agent: 'other-bot' }))

    const fresh = makeRec(now)
    expect(await append(1, [fresh], [claimed(free, true), claimed(covered, true)])).toEqual({
      refused: [{ index: 2, result: 'locked' }],
    })
    expect(await store.getSessions([fresh.id, free.id, covered.id])).toEqual([null, free, covered])
    expect(await store.auditHead('main')).toBeNull()

    expect(await append(1, [fresh], [claimed(free, true)])).toBe('ok')
    expect(await store.getSessions([fresh.id, free.id])).toEqual([fresh, claimed(free, true).rec])
    // A change that does not check locks (an expiry, a decision) is not refused by one.
    expect(await append(2, [], [claimed(covered, false)])).toBe('ok')
    expect(await store.getSession(covered.id)).toEqual(claimed(covered, false).rec)
  })
})
