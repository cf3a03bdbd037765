// store.replica_acks against a real primary and replica: with the replica up, grants, revocations
// and locks answer as usual; with it stopped they answer 503 within replica_ack_timeout, nothing is
// reported issued, the metric counts it, and a repeated revocation answers 200 once a replica holds it.
// A claim of an approved grant answers 503 too, but the grant stays claimable: once a replica is
// back, the agent's retry gets it, once.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { Redis } from 'ioredis'
import { verifyAuditLog } from '../../src/audit/read.js'
import { providerStateFor } from '../../src/store/provider-state.js'
import { createRedisStore } from '../../src/store/redis.js'
import { client, sessionBody, testBroker, type TestBroker } from '../helper.js'
import { gatedProvider } from '../support/gated-provider.js'
import { until } from '../support/redis-ha.js'
import { redisServer, type RedisServer } from '../support/redis-server.js'

let primary: RedisServer
let replica: RedisServer
let t: TestBroker

const replicasOnline = async () => {
  const r = new Redis(primary.url)
  try {
    // Acknowledged, not just connected: what WAIT counts.
    await r.set('airlock-test:ha-acks', '1')
    return await r.wait(1, 100)
  } finally {
    r.disconnect()
  }
}
/** Whether a test stopped the replica (and, should it fail, left it stopped). */
let away = false
const replicaAway = async () => {
  away = true
  await replica.stop()
  await until('the primary to notice', async () => (await replicasOnline()) === 0)
}
const replicaBack = async () => {
  away = false
  await replica.start()
  await until('the replica back in sync', async () => (await replicasOnline()) === 1)
}
const issuedTotal = async () =>
  /airlock_sessions_issued_total\{[^}]*\} (\d+)/.exec((await t.app.inject({ url: '/metrics' })).body)?.[1]

beforeAll(async () => {
  primary = await redisServer()
  replica = await redisServer(['--replicaof', '127.0.0.1', String(primary.port)])
  // In sync before the broker starts: its own first writes wait for the replica too.
  await until('the replica in sync', async () => (await replicasOnline()) === 1)
  t = await testBroker({
    redisUrl: primary.url,
    yaml: { store: 'replica_acks: 1, replica_ack_timeout: 300ms' },
  })
}, 30_000)

afterAll(async () => {
  await t?.close()
  await replica?.stop()
  await primary?.stop()
})

describe('replica_acks: 1', () => {
  it('with the replica up: grants, revocations and locks answer as usual', async () => {
    const c = client(t.app, t.keys)
    const { session } = await c.issue('build-bot')
    expect((await c.del(`/v1/sessions/${session.id}`, 'ops')).body.session.status).toBe('revoked')
    expect((await c.post('/v1/locks', 'ops', { agent: 'other-bot', reason: 'acks test' })).status).toBe(201)
  })

  it('with the replica stopped: 503 within the timeout, nothing issued; a retried revocation is 200 once the replica is back', async () => {
    const c = client(t.app, t.keys)
    const live = await c.issue('build-bot', { task: { id: 'LIVE-1' } })
    const issuedBefore = await issuedTotal()
    await replica.stop()
    await until('the primary to notice', async () => (await replicasOnline()) === 0)

    const grant = await c.post('/v1/sessions', 'build-bot', sessionBody({ task: { id: 'UNACKED-1' } }))
    expect(grant.status).toBe(503)
    expect(grant.body).toMatchObject({ error: 'unavailable', message: expect.stringMatching(/replicas/) })
    expect(grant.body.grant).toBeUndefined()
    const revoke = await c.del(`/v1/sessions/${live.session.id}`, 'ops')
    expect(revoke.status).toBe(503)
    expect(revoke.body.message).toMatch(/may not survive a failover; retry/)

    // Nothing reported issued: the unacknowledged grant's session is ended, and the live one
    // is revoked on the primary all the same (its token is inactive).
    const listed = (await c.get('/v1/sessions?agent=build-bot&limit=100', 'ops')).body.sessions as {
      task: { id: string }
      status: string
    }[]
    expect(listed.find((s) => s.task.id === 'UNACKED-1')?.status).toBe('revoked')
    expect((await c.post('/v1/introspect', 'internal-api', { token: live.grant.token })).body).toEqual({
      active: false,
    })
    expect((await t.app.inject({ url: '/metrics' })).body).toMatch(
      /airlock_store_replica_ack_shortfalls_total [1-9]/,
    )
    expect(await issuedTotal()).toBe(issuedBefore)

    // Retrying while the replica is still away is still a 503; once it is back, a 200.
    expect((await c.del(`/v1/sessions/${live.session.id}`, 'ops')).status).toBe(503)
    await replica.start()
    await until('the replica back in sync', async () => (await replicasOnline()) === 1)
    const again = await c.del(`/v1/sessions/${live.session.id}`, 'ops')
    expect(again.status).toBe(200)
    expect(again.body.session.status).toBe('revoked')
  })
})

describe('replica_acks: 1, a decision retried after a 503', () => {
  type Body = Record<string, any>
  const pending = async (task: string) => {
    const c = client(t.app, t.keys)
    const r = await c.post(
      '/v1/sessions',
      'build-bot',
      sessionBody({ operation_class: 'destructive', task: { id: task } }),
    )
    expect(r.status).toBe(202)
    return r.body.session as Body
  }
  const decide = (sid: string, who: string, decision: 'approve' | 'deny') =>
    client(t.app, t.keys).post(`/v1/sessions/${sid}/approvals`, who, { decision })
  const events = (sid: string, type: string) =>
    t.audit.map((l) => JSON.parse(l) as Body).filter((e) => e.session_id === sid && e.type === type)

  // build-bot's destructive requests need two of bob and carol (alice owns it).
  it('the same human repeating the same decision gets 200 once the replicas hold it; one audit event', async () => {
    const s = await pending('RETRY-APPROVE')
    const d = await pending('RETRY-DENY')
    await replicaAway()
    const first = await decide(s.id, 'bob', 'approve')
    expect(first.status).toBe(503)
    expect(first.body.message).toMatch(/replicas/)
    const denied = await decide(d.id, 'carol', 'deny')
    expect(denied.status).toBe(503)
    // Still away: the retry cannot be confirmed yet.
    expect((await decide(s.id, 'bob', 'approve')).status).toBe(503)
    await replicaBack()

    const again = await decide(s.id, 'bob', 'approve')
    expect(again.status).toBe(200)
    expect(again.body.session).toMatchObject({ status: 'pending_approval', approvals: [{ by: 'bob' }] })
    expect(events(s.id, 'session.approval')).toHaveLength(1)
    const deniedAgain = await decide(d.id, 'carol', 'deny')
    expect(deniedAgain.status).toBe(200)
    expect(deniedAgain.body.session).toMatchObject({ status: 'denied', denied_by: 'carol' })
    expect(events(d.id, 'session.denied')).toHaveLength(1)

    // Another human, or another decision, keeps the usual rules.
    const carol = await decide(s.id, 'carol', 'approve')
    expect(carol.status).toBe(200)
    expect(carol.body.session.status).toBe('approved')
    expect((await decide(s.id, 'bob', 'approve')).status).toBe(200)
    expect((await decide(s.id, 'bob', 'deny')).status).toBe(409)
    expect((await decide(d.id, 'alice', 'deny')).status).toBe(409)
    expect((await decide(d.id, 'bob', 'deny')).status).toBe(409)
    expect((await decide(d.id, 'carol', 'approve')).status).toBe(409)
    expect(events(s.id, 'session.approval')).toHaveLength(1)
    expect(events(s.id, 'session.approved')).toHaveLength(1)
  })
})

describe('replica_acks: 1, a claim retried after a 503', () => {
  type Body = Record<string, any>
  const ext = gatedProvider()
  /** Every token the broker signs, answered or not. */
  const signed: string[] = []
  beforeAll(() => {
    t.broker.runtime().providers.set('ext-api', ext.provider)
    const tokens = t.app.broker.tokens
    const sign = tokens.sign.bind(tokens)
    vi.spyOn(tokens, 'sign').mockImplementation(async (claims) => {
      const token = await sign(claims)
      signed.push(token)
      return token
    })
  })
  afterAll(() => {
    vi.restoreAllMocks()
  })
  // A failed test does not leave the next one without its replica.
  afterEach(async () => {
    if (away) await replicaBack()
  })
  const c = () => client(t.app, t.keys)
  /** A destructive request of build-bot approved by bob and carol (alice owns it). */
  const approved = (over: Body) => c().approved(over)
  const claim = (id: string) => c().post(`/v1/sessions/${id}/grant`, 'build-bot')
  const status = async (id: string) => (await c().get(`/v1/sessions/${id}`, 'ops')).body.status as string
  const inactive = async (tokens: string[]) => {
    for (const token of tokens)
      expect((await c().post('/v1/introspect', 'internal-api', { token })).body).toEqual({ active: false })
  }
  const types = (id: string) =>
    t.audit
      .map((l) => JSON.parse(l) as Body)
      .filter((e) => e.session_id === id)
      .map((e) => e.type as string)

  it('with the replica stopped: 503 and nothing usable; once it is back, the retry gets the grant, once', async () => {
    const id = await approved({ task: { id: 'CLAIM-RETRY' } })
    const raced = await approved({ task: { id: 'CLAIM-RACE' } })
    const before = signed.length
    await replicaAway()

    const first = await claim(id)
    expect(first.status).toBe(503)
    expect(first.body).toMatchObject({
      error: 'unavailable',
      message: expect.stringMatching(/replicas acknowledged the claim .*can still be claimed: retry/),
    })
    expect(first.body.grant).toBeUndefined()
    expect((await claim(raced)).status).toBe(503)
    // Still away: the retry is a 503 again, and the grant stays claimable.
    expect((await claim(id)).status).toBe(503)
    // Nothing usable: any token signed meanwhile is inactive, and the session holds no token id.
    await inactive(signed.slice(before))
    expect((await t.app.broker.store.getSession(id))?.jti).toBeNull()
    expect(await status(id)).toBe('approved')
    expect(await status(raced)).toBe('approved')

    await replicaBack()
    const again = await claim(id)
    expect(again.status).toBe(200)
    expect(again.body.session.status).toBe('active')
    const token = again.body.grant.token as string
    expect((await c().post('/v1/introspect', 'internal-api', { token })).body).toMatchObject({
      active: true,
      sid: id,
    })
    expect((await claim(id)).status).toBe(409)
    // Two retries racing: one grant.
    const both = await Promise.all([claim(raced), claim(raced)])
    expect(both.map((r) => r.status).sort()).toEqual([200, 409])

    // Only the two tokens handed out are active.
    const granted = [token, ...both.map((r) => r.body.grant?.token as string | undefined)]
    await inactive(signed.slice(before).filter((s) => !granted.includes(s)))
    // Each unacknowledged claim landed with its event, then was undone.
    expect(types(id)).toEqual([
      'session.requested',
      'session.approval',
      'session.approved',
      'session.issued',
      'session.claim_undone',
      'session.issued',
      'session.claim_undone',
      'session.issued',
      'session.claim_refused',
    ])
    const racedTypes = types(raced)
    const afterUndone = racedTypes.slice(racedTypes.lastIndexOf('session.claim_undone'))
    expect(afterUndone.filter((e) => e === 'session.issued')).toHaveLength(1)
    expect(await verifyAuditLog(t.app.broker.store)).toMatchObject({ ok: true, problems: [] })
  })

  it('the replica lost while an external provider mints: those credentials are revoked, the retry mints new ones', async () => {
    const id = await approved({ provider: 'ext-api', task: { id: 'CLAIM-EXT' } })
    const h = ext.hold()
    const pending = claim(id)
    expect(await h.started).toBe(id)
    await replicaAway()
    h.release()
    const first = await pending
    expect(first.status).toBe(503)
    expect(first.body.message).toMatch(/can still be claimed: retry/)
    expect(ext.state.revoked).toEqual([
      expect.objectContaining({ sessionId: id, handle: { role: `r_${id}` } }),
    ])
    expect(await status(id)).toBe('approved')

    await replicaBack()
    const again = await claim(id)
    expect(again.status).toBe(200)
    expect(again.body.grant.credentials).toEqual({ username: `u_${id}` })
    expect((await claim(id)).status).toBe(409)
    expect(ext.state.issued).toEqual([id, id])
    expect(ext.state.revoked).toHaveLength(1)
    const undone = t.audit
      .map((l) => JSON.parse(l) as Body)
      .find((e) => e.session_id === id && e.type === 'session.claim_undone')
    expect(undone?.details).toMatchObject({ from: 'active', credentials_revoked: true })
    expect(types(id).filter((e) => e === 'session.issued')).toHaveLength(1)
    expect(await verifyAuditLog(t.app.broker.store)).toMatchObject({ ok: true, problems: [] })
  })
})

describe('replica_acks: 1, a gateway action marked used while the replica is away', () => {
  afterEach(async () => {
    if (away) await replicaBack()
  })

  it('the once-only mark waits for the replicas: 503, and it stays used once they are back', async () => {
    const { session } = await client(t.app, t.keys).issue('build-bot', { task: { id: 'ACTION-1' } })
    const store = t.app.broker.store
    const keep = Date.now() + 3_600_000
    await replicaAway()
    // A mark a failover could lose would let the approved action run a second time.
    await expect(store.useAction(session.id, keep)).rejects.toMatchObject({
      name: 'ReplicaAckError',
      message: expect.stringMatching(/may not survive a failover/),
    })
    await replicaBack()
    expect(await store.useAction(session.id, keep)).toBe(false)
  })
})

describe('replica_acks: 1, provider state written under a lock while the replica is away', () => {
  afterEach(async () => {
    if (away) await replicaBack()
  })

  it('the lock is not given up before the replicas hold what was written under it: 503', async () => {
    // The aws provider's deny list: an entry a failover loses is dropped from the role's policy by
    // the next rewrite, and the revoked credentials work again.
    const state = providerStateFor(t.broker.backend)('aws-acks')
    await replicaAway()
    await expect(
      state.withLock('policy', 10_000, () => state.zadd('denied', [{ member: 'AROA:s1', score: 1 }])),
    ).rejects.toMatchObject({ name: 'ReplicaAckError' })
    // Still on the primary, and the lock was released all the same.
    expect(await state.zscore('denied', 'AROA:s1')).toBe(1)
    await replicaBack()
    expect(await state.withLock('policy', 10_000, async () => 'ok', { waitMs: 0 })).toBe('ok')
  })
})

describe('replica_acks: 1 with a replica_ack_timeout longer than a command may take', () => {
  it('a replica acknowledging within the timeout counts, and the next write is not held up', async () => {
    const store = await createRedisStore(primary.url, `airlock-test:acks-${Date.now().toString(36)}:`, {
      durability: { acks: 1, timeoutMs: 5_000 },
    })
    const resume = setTimeout(() => replica.pause(false), 2_500)
    try {
      replica.pause(true)
      // Acknowledged after about 2.5 s: within the 5 s asked for, so no 503.
      await store.confirmWrites()
      const started = Date.now()
      await store.confirmWrites()
      expect(Date.now() - started).toBeLessThan(1_000)
    } finally {
      clearTimeout(resume)
      replica.pause(false)
      await store.close()
    }
  })
})
