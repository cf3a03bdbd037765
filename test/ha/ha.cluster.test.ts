// Redis Cluster (three primaries): the shared suites of the store, the console records and the job
// queue, and two brokers sharing the cluster: a token issued by one is inactive on both once either
// revokes it; locks, the vault's key ring, the rate limit, change notifications and the Slack outbox
// work there too.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSlackOutbox } from '../../src/slack/outbox.js'
import { client, newKeys, sessionBody, testBroker, type TestBroker } from '../helper.js'
import { startCluster, type RedisClusterSet } from '../support/redis-ha.js'
import { queueSuite } from '../support/queue-suite.js'
import { redisQueueKind } from '../support/queue-kinds.js'
import { storeContract } from '../support/store-contract.js'
import { consoleStoreSuite } from '../support/console-store-suite.js'
import { redisKind } from '../support/store-kinds.js'
import { arrives } from '../support/bounded.js'

let cluster: RedisClusterSet
beforeAll(async () => {
  cluster = await startCluster(3)
}, 30_000)
afterAll(async () => {
  await cluster?.stop()
})

describe('cluster store contract', () => {
  storeContract(
    redisKind(
      'cluster',
      () => cluster.connection(),
      (prefix) => cluster.deletePrefix(prefix),
    ),
  )
})

describe('cluster console records', () => {
  consoleStoreSuite(
    redisKind(
      'cluster',
      () => cluster.connection(),
      (prefix) => cluster.deletePrefix(prefix),
    ),
  )
})

describe('cluster job queue', () => {
  queueSuite(
    redisQueueKind(
      'cluster',
      () => cluster.connection(),
      (prefix) => cluster.deletePrefix(prefix),
    ),
  )
})

// Generous timeouts: CI machines (and this one) can be heavily loaded.
describe('two brokers on a three-primary cluster', { timeout: 60_000 }, () => {
  let a: TestBroker
  let b: TestBroker
  const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`
  beforeAll(async () => {
    const nodes = cluster.ports.map((p) => `"127.0.0.1:${p}"`).join(', ')
    const keys = newKeys()
    const masterKey = randomBytes(32)
    const opts = { prefix, keys, masterKey, yaml: { redis: `cluster: { nodes: [${nodes}] }`, perMinute: 5 } }
    a = await testBroker(opts)
    b = await testBroker(opts)
  }, 90_000)
  afterAll(async () => {
    await a?.close()
    await b?.close()
    await cluster?.deletePrefix(prefix)
  })

  it('a token issued by one is active on the other, and inactive on both the moment either revokes it', async () => {
    const ca = client(a.app, a.keys)
    const cb = client(b.app, b.keys)
    const { session, grant } = await ca.issue('build-bot')
    // The vault's key ring is shared through the cluster: b verifies a's signature.
    expect((await cb.post('/v1/introspect', 'internal-api', { token: grant.token })).body.active).toBe(true)
    expect((await cb.del(`/v1/sessions/${session.id}`, 'ops')).body.session.status).toBe('revoked')
    for (const c of [ca, cb])
      expect((await c.post('/v1/introspect', 'internal-api', { token: grant.token })).body).toEqual({
        active: false,
      })
  })

  it('a lock made on one holds on the other; a change made on one wakes a wait on the other', async () => {
    const ca = client(a.app, a.keys)
    const cb = client(b.app, b.keys)
    const pending = await ca.post('/v1/sessions', 'other-bot', sessionBody({ environment: 'prod' }))
    expect(pending.status).toBe(202)
    const id = pending.body.session.id as string
    const waiting = cb.get(`/v1/sessions/${id}?wait=10`, 'other-bot')
    const approved = await ca.post(`/v1/sessions/${id}/approvals`, 'alice', { decision: 'approve' })
    expect(approved.status).toBe(200)
    // Within 10 s in any case (a wait that starts after the approval holds for the next change).
    const answer = await arrives(waiting, "the ?wait answer on one broker after the other's approval", 30_000)
    expect(answer.body.status).toBe('approved')

    const live = await cb.issue('other-bot')
    expect((await ca.post('/v1/locks', 'ops', { agent: 'other-bot', reason: 'cluster test' })).status).toBe(
      201,
    )
    expect((await cb.post('/v1/introspect', 'internal-api', { token: live.grant.token })).body.active).toBe(
      false,
    )
    expect((await cb.post('/v1/sessions', 'other-bot', sessionBody())).status).toBe(403)
  })

  it('the rate limit is one budget across both; the Slack outbox queues and claims', async () => {
    const ca = client(a.app, a.keys)
    const cb = client(b.app, b.keys)
    const statuses: number[] = []
    for (let i = 0; i < 8; i++)
      statuses.push((await (i % 2 ? ca : cb).get('/v1/sessions/ses_x', 'build-bot')).status)
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0)

    const outbox = createSlackOutbox(a.broker.backend)
    await outbox.enqueue('ses_cluster', Date.now() - 1)
    const [job] = await outbox.claim(Date.now(), 10_000, 10)
    expect(job?.session).toBe('ses_cluster')
    await outbox.finish(job as NonNullable<typeof job>, Date.now())
    expect(await outbox.backlog()).toBe(0)
  })
})
