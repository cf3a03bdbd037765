// Locks on two brokers sharing one Redis: a lock made on one holds on the other at once, and a
// lock lifted or expired by both at the same moment is lifted once, with one audit event.
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisKeys } from '../../src/store/keys.js'
import { profileOf } from '../../src/store/record-codec.js'
import { client, newKeys, sessionBody, testBroker, TestClock, type TestBroker } from '../helper.js'
import { makeRec } from '../support/records.js'

let a: TestBroker
let b: TestBroker
let A: ReturnType<typeof client>
let B: ReturnType<typeof client>
const clock = new TestClock()
beforeAll(async () => {
  const keys = newKeys()
  a = await testBroker({ keys, clock })
  b = await testBroker({ keys, clock, prefix: a.prefix })
  A = client(a.app, keys)
  B = client(b.app, keys)
})
afterAll(async () => {
  await b.broker.close()
  await a.close()
})

type Body = Record<string, any>
/** The lock events both brokers wrote about `lockId`. */
const lockEvents = (lockId: string) =>
  [...a.audit, ...b.audit]
    .map((l) => JSON.parse(l) as Body)
    .filter((e) => typeof e.type === 'string' && e.details?.lock?.id === lockId)
    .map((e) => e.type as string)

describe('locks across brokers', () => {
  it('a lock made on one broker refuses issue, claim and introspection on the other', async () => {
    const live = await B.post('/v1/sessions', 'build-bot', sessionBody({ task: { id: 'XL-1' } }))
    const waiting = await B.post(
      '/v1/sessions',
      'other-bot',
      sessionBody({ environment: 'prod', task: { id: 'XL-2' } }),
    )
    expect(waiting.status).toBe(202)
    const lock = await A.post('/v1/locks', 'ops', { environment: 'staging', reason: 'incident' })
    expect(lock.status).toBe(201)
    expect(lock.body.revoked_sessions).toContain(live.body.session.id)
    expect((await B.post('/v1/introspect', 'ops', { token: live.body.grant.token })).body).toEqual({
      active: false,
    })
    const refused = await B.post('/v1/sessions', 'other-bot', sessionBody({ task: { id: 'XL-3' } }))
    expect(refused.status).toBe(403)
    expect(refused.body.message).toBe(`a lock holds (${lock.body.lock.id}: incident)`)
    // prod is not locked: its request is approved and claimed on B.
    await B.post(`/v1/sessions/${waiting.body.session.id}/approvals`, 'alice', { decision: 'approve' })
    expect((await B.post(`/v1/sessions/${waiting.body.session.id}/grant`, 'other-bot')).status).toBe(200)
    expect((await B.del(`/v1/locks/${lock.body.lock.id}`, 'ops')).status).toBe(200)
  })

  it('a lock lifted on both brokers at once is lifted once: one 200, one 404, one event', async () => {
    for (let i = 0; i < 5; i++) {
      const made = await A.post('/v1/locks', 'ops', { task_id: `LIFT-${i}`, reason: 'twice' })
      const id = made.body.lock.id as string
      const answers = await Promise.all([A.del(`/v1/locks/${id}`, 'ops'), B.del(`/v1/locks/${id}`, 'bob')])
      expect(answers.map((r) => r.status).sort()).toEqual([200, 404])
      expect(lockEvents(id)).toEqual(['lock.created', 'lock.deleted'])
    }
  })

  it('an expired lock dropped by two sweeps at once is audited once', async () => {
    const expires = new Date(clock.now() + 60_000).toISOString()
    const made = await A.post('/v1/locks', 'ops', {
      task_id: 'SWEPT-1',
      reason: 'brief',
      expires_at: expires,
    })
    clock.advance(60_001)
    const dropped = await Promise.all([a.app.broker.locks.dropExpired(), b.app.broker.locks.dropExpired()])
    expect(dropped.reduce((x, y) => x + y)).toBe(1)
    expect(lockEvents(made.body.lock.id)).toEqual(['lock.created', 'lock.expired'])
  })

  it('a lock whose sweep cannot revoke every session still holds, is audited, and says what to do', async () => {
    const live = await A.post('/v1/sessions', 'build-bot', sessionBody({ task: { id: 'HALF-1' } }))
    // A session alone in its profile, and that profile lost (a failover): B cannot read its record.
    const bad = makeRec(clock.now(), {
      status: 'active',
      agent: 'build-bot',
      task: { id: 'HALF-1', description: null },
    })
    expect(await a.broker.store.createSession(bad, 86_400_000, clock.now())).toBe('ok')
    const redis = new Redis(a.redisUrl)
    try {
      const raw = (await redis.get(redisKeys(a.prefix).session(bad.id))) as string
      expect(await redis.del(redisKeys(a.prefix).profile(profileOf(raw)))).toBe(1)
    } finally {
      redis.disconnect()
    }

    const r = await B.post('/v1/locks', 'ops', { task_id: 'HALF-1', reason: 'half' })
    expect(r.status).toBe(503)
    const held = (await B.get('/v1/locks', 'ops')).body.locks as Body[]
    const lock = held.find((l) => l.task_id === 'HALF-1')
    expect(lock).toBeDefined()
    expect(r.body.message).toBe(
      `lock ${lock?.id} holds, but not every session it covers could be revoked; revoke them with POST /v1/sessions/revoke {"task_id":"HALF-1"} rather than locking again`,
    )
    expect(lockEvents(lock?.id)).toEqual(['lock.created'])
    expect((await B.get(`/v1/sessions/${live.body.session.id}`, 'ops')).body.status).toBe('revoked')
    await A.del(`/v1/locks/${lock?.id}`, 'ops')
  })
})

describe('a lock naming something that does not exist', () => {
  it('is refused with the name it probably meant and the configured ones', async () => {
    const env = await A.post('/v1/locks', 'ops', { environment: 'Prod', reason: 'incident' })
    expect(env.status).toBe(400)
    expect(env.body).toMatchObject({
      error: 'invalid_request',
      message: "environment: unknown environment 'Prod' (did you mean prod?); configured: staging, prod",
    })
    const agent = await A.post('/v1/locks', 'ops', { agent: 'build_bot', reason: 'incident' })
    expect(agent.body.message).toBe(
      "agent: unknown agent 'build_bot' (did you mean build-bot?); configured: build-bot, other-bot",
    )
    const provider = await A.post('/v1/locks', 'ops', { provider: 'internal', reason: 'incident' })
    expect(provider.body.message).toBe(
      "provider: unknown provider 'internal' (did you mean internal-api?); configured: internal-api, other-api",
    )
  })
})
