// store.replica_acks against a real primary and replica: with the replica up, grants, revocations
// and locks answer as usual; with it stopped they answer 503 within replica_ack_timeout, nothing is
// reported issued, the metric counts it, and a repeated revocation answers 200 once a replica holds it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { client, sessionBody, testBroker, type TestBroker } from '../helper.js'
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
  const replicaAway = async () => {
    await replica.stop()
    await until('the primary to notice', async () => (await replicasOnline()) === 0)
  }
  const replicaBack = async () => {
    await replica.start()
    await until('the replica back in sync', async () => (await replicasOnline()) === 1)
  }

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
