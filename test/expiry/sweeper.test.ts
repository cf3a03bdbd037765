// The sweeper's passes with a real Redis: bounded under a large backlog (every other job still
// gets its turn), and one stuck provider revocation never holds up the rest of its batch.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Redis } from 'ioredis'
import { redisKeys } from '../../src/store/keys.js'
import { profileOf } from '../../src/store/record-codec.js'
import { BUDGET } from '../../src/workers/sweeper.js'
import { client, TestClock, testBroker, type TestBroker } from '../helper.js'
import { deferred, gatedProvider } from '../support/gated-provider.js'
import { makeLock, makeRec } from '../support/records.js'
import { landsUnacked } from '../support/unacked.js'

const DAY = 86_400_000
const expiredIds = (t: TestBroker) =>
  t.audit
    .map((l) => JSON.parse(l) as { type: string; session_id: string | null })
    .filter((e) => e.type === 'session.expired')
    .map((e) => e.session_id)

let t: TestBroker
let peer: TestBroker | undefined
afterEach(async () => {
  vi.restoreAllMocks()
  await peer?.close()
  peer = undefined
  await t?.close()
})

describe('sweeper passes', () => {
  it('a pass stops at its budget under a large backlog; retries, lock expiry and metrics still run', async () => {
    const clock = new TestClock()
    t = await testBroker({ clock })
    const { store } = t.broker
    const ext = gatedProvider()
    t.broker.runtime().providers.set('ext-api', ext.provider)
    const now = clock.now()
    const backlog = BUDGET.expiryItems + 1000
    const recs = Array.from({ length: backlog }, (_, i) =>
      makeRec(now - DAY, { status: 'active', expires_at: now - 60_000 + (i % 1000) }),
    )
    for (let i = 0; i < recs.length; i += 500)
      await Promise.all(recs.slice(i, i + 500).map((r) => store.createSession(r, DAY, now - DAY)))
    await t.broker.revocations.put(
      {
        id: 'rev_ses_queued',
        provider: 'ext-api',
        sessionId: 'ses_queued',
        environment: 'staging',
        operationClass: 'read',
        handle: { role: 'r_queued' },
        expiresAt: now,
        attempts: 1,
        lastError: 'backend unreachable',
      },
      now - 1,
    )
    const lapsed = makeLock(now - DAY, { agent: 'nobody', expires_at: now - 1 })
    await store.putLock(lapsed)

    await t.broker.sweepOnce()
    const left = (await store.expiryLag(clock.now())).due
    expect(left).toBeGreaterThan(0)
    expect(left).toBeLessThan(backlog)
    expect(ext.state.revoked.map((r) => r.sessionId)).toEqual(['ses_queued'])
    expect(await t.broker.revocations.size()).toBe(0)
    expect((await store.listLocks()).map((l) => l.id)).not.toContain(lapsed.id)
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body
    expect(metrics).toContain(`airlock_expiry_backlog ${left}`)
    expect(metrics).toMatch(/airlock_expiry_oldest_overdue_seconds (\d+)/)
    expect(Number(/airlock_expiry_oldest_overdue_seconds (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0)

    // Later passes finish the backlog; every session is expired exactly once.
    for (let i = 0; i < 20 && (await store.expiryLag(clock.now())).due > 0; i++) await t.broker.sweepOnce()
    expect((await store.expiryLag(clock.now())).due).toBe(0)
    const ids = expiredIds(t)
    expect(ids).toHaveLength(backlog)
    expect(new Set(ids)).toEqual(new Set(recs.map((r) => r.id)))
    expect(await store.countLive()).toEqual({ live: 0, pending: 0 })
  }, 60_000)

  it('one provider revocation that hangs does not hold up the rest of its batch', async () => {
    const clock = new TestClock()
    t = await testBroker({ clock })
    const ext = gatedProvider()
    const stuck = deferred()
    let stuckId = ''
    t.broker.runtime().providers.set('ext-api', {
      ...ext.provider,
      async revoke(input) {
        if (input.sessionId === stuckId) await stuck.promise
        return ext.provider.revoke(input)
      },
    })
    const api = client(t.app, t.keys)
    const ids: string[] = []
    for (let i = 0; i < 30; i++)
      ids.push((await api.issue('build-bot', { provider: 'ext-api', ttl_seconds: 60 })).session.id)
    stuckId = ids[0] as string
    clock.advance(61_000)

    const pass = t.broker.sweepOnce()
    await vi.waitFor(() => expect(ext.state.revoked).toHaveLength(29), { timeout: 10_000, interval: 20 })
    expect(ext.state.revoked.map((r) => r.sessionId).sort()).toEqual(ids.slice(1).sort())
    stuck.resolve()
    await pass
    expect(ext.state.revoked.map((r) => r.sessionId)).toContain(stuckId)
    expect(new Set(expiredIds(t))).toEqual(new Set(ids))
  })

  it('a record that cannot be read does not hold up the rest of its batch', async () => {
    const clock = new TestClock()
    t = await testBroker({ clock })
    const now = clock.now()
    const due = { status: 'active' as const, provider: 'ext-api', expires_at: now - 1000 }
    const good = Array.from({ length: 5 }, () => makeRec(now - DAY, due))
    // Alone in its profile, and that profile lost (a failover): its record cannot be decoded.
    const bad = makeRec(now - DAY, { ...due, agent: 'deploy-bot' })
    for (const r of [...good, bad]) await t.broker.store.createSession(r, DAY, now - DAY)
    const keys = redisKeys(t.prefix)
    const redis = new Redis(t.redisUrl)
    try {
      const raw = (await redis.get(keys.session(bad.id))) as string
      expect(await redis.del(keys.profile(profileOf(raw)))).toBe(1)
    } finally {
      redis.disconnect()
    }

    // Another replica, which never saw the profile.
    peer = await testBroker({ clock, prefix: t.prefix })
    const ext = gatedProvider()
    peer.broker.runtime().providers.set('ext-api', ext.provider)
    for (let i = 0; i < 3; i++) {
      await peer.broker.sweepOnce()
      clock.advance(20_000)
    }
    expect(new Set(expiredIds(peer))).toEqual(new Set(good.map((r) => r.id)))
    expect(ext.state.revoked.map((r) => r.sessionId).sort()).toEqual(good.map((r) => r.id).sort())
    // The unreadable one stays due, and is tried again.
    expect(await peer.broker.store.dueSessionIds(clock.now(), 10)).toEqual([bad.id])
  })

  it('an expiry the replicas did not acknowledge in time still revokes the credentials', async () => {
    const clock = new TestClock()
    t = await testBroker({ clock })
    const ext = gatedProvider()
    t.broker.runtime().providers.set('ext-api', ext.provider)
    const api = client(t.app, t.keys)
    const id = (await api.issue('build-bot', { provider: 'ext-api', ttl_seconds: 60 })).session.id as string
    clock.advance(61_000)

    // The batch's append lands on the primary; too few replicas acknowledge it.
    landsUnacked(t.broker.store, 'appendAudit')
    await t.broker.sweepOnce()
    expect((await t.broker.store.getSession(id))?.status).toBe('expired')
    expect(ext.state.revoked.map((r) => r.sessionId)).toEqual([id])
  })
})
