// An AWS claim while the store cannot be written for a moment (a private redis-server that refuses
// writes, NOREPLICAS, or whose answer is lost, or that stops answering): the agent's 503 costs a
// retry, not a new approval. The failed attempt's credentials are denied by their STS session
// name, the grant goes back to approved with its claim deadline, and the retry claims it once.
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { attemptSessionName } from '../../../providers/aws/policy.js'
import { verifyAuditLog } from '../../../src/audit/read.js'
import type { SessionRecord } from '../../../src/domain/session.js'
import { client, TestClock, testBroker, type TestBroker } from '../../helper.js'
import { awsWorld, ROLES, type AwsWorld } from '../../support/aws-setup.js'
import { tagsOf } from '../../support/fake-aws.js'
import { jtiOf } from '../../support/jti.js'
import { redisServer, type RedisServer } from '../../support/redis-server.js'
import { simulate } from '../../support/simulate.js'

const clock = new TestClock()
let redis: RedisServer
let admin: Redis
let w: AwsWorld
let t: TestBroker
let api: ReturnType<typeof client>

beforeAll(async () => {
  redis = await redisServer()
  admin = new Redis(redis.url)
  w = await awsWorld({ now: () => clock.now() })
  t = await testBroker({ clock, redisUrl: redis.url, yaml: { providers: w.providerYaml() } })
  api = client(t.app, t.keys)
})
afterEach(async () => {
  vi.restoreAllMocks()
  redis.pause(false)
  await admin.config('SET', 'min-replicas-to-write', '0')
})
afterAll(async () => {
  await t?.broker.close()
  admin?.disconnect()
  await w?.close()
  await redis?.stop()
})

/** Redis refuses every write (a primary cut off from its replicas answers NOREPLICAS). */
const refuseWrites = (on: boolean) => admin.config('SET', 'min-replicas-to-write', on ? '1' : '0')

const roleId = () => w.fake.roles.get(ROLES.staging)!.roleId
const denyPolicy = () => w.fake.policyOf(ROLES.staging, 'airlock-revoked-sessions')
/** What the role's policies let an STS session of this name do (an IAM policy simulator decides). */
const asSession = (name: string) =>
  simulate({
    action: 's3:DeleteObject',
    resource: 'arn:aws:s3:::staging-bucket/key',
    rolePolicies: denyPolicy() ? [denyPolicy()] : [],
    principal: `arn:aws:sts::111111111111:assumed-role/airlock-staging/${name}`,
    context: { 'aws:userid': `${roleId()}:${name}` },
  })

type Body = Record<string, any>
/** An approved destructive staging request of build-bot on aws-main (bob and carol approve). */
const approved = async (task: string) => {
  const id = await api.approved({ provider: 'aws-main', task: { id: task } })
  return (await stored(id))!
}
const claim = (id: string) => api.post(`/v1/sessions/${id}/grant`, 'build-bot')
/** The record as stored (`issuing` shows as approved in the API). */
const stored = (id: string) => t.broker.store.getSession(id)
const events = (id: string) => t.audit.map((l) => JSON.parse(l) as Body).filter((e) => e.session_id === id)
const types = (id: string) => events(id).map((e) => e.type as string)
const undoneEvent = (id: string) => events(id).find((e) => e.type === 'session.claim_undone')
/** The STS session names AssumeRole answered for this session, in order. */
const assumedFor = (id: string) =>
  w.fake
    .callsOf('AssumeRole')
    .filter((c) => c.status === 200 && tagsOf(c)['airlock:session-id'] === id)
    .map((c) => c.params['RoleSessionName'])

type Write = (...args: unknown[]) => Promise<unknown>
/** The store's next call of `method` runs `around` instead, given the real call. */
const onNext = (method: 'appendAudit' | 'casSession', around: (real: Write) => Write, skip = 0) => {
  const store = t.broker.store as unknown as Record<string, Write>
  const real = (store[method] as Write).bind(store)
  const spy = vi.spyOn(store as { x: Write }, method as 'x')
  for (let i = 0; i < skip; i++) spy.mockImplementationOnce(real)
  spy.mockImplementationOnce(around(real))
}

const AFTER_APPROVAL = ['session.requested', 'session.approval', 'session.approved']

/** The retry gets fresh credentials under a new STS name; the failed attempt's name is denied. */
async function retried(s: SessionRecord, failed: string) {
  const again = await claim(s.id)
  expect(again.status, JSON.stringify(again.body)).toBe(200)
  const name2 = attemptSessionName(s.id, jtiOf(again.body.grant.token))
  expect(name2).not.toBe(failed)
  expect(assumedFor(s.id)).toEqual([failed, name2])
  expect(await asSession(failed)).toBe('ExplicitlyDenied')
  expect(await asSession(name2)).toBe('Allowed')
  // Single use: the grant was claimed again once.
  expect((await claim(s.id)).status).toBe(409)
  expect(await verifyAuditLog(t.broker.store)).toMatchObject({ ok: true, problems: [] })
}

describe('aws: a claim while the store cannot be written for a moment', () => {
  it('the audit append of the activation refused: 503, and the retry gets fresh credentials', async () => {
    const s = await approved('OUTAGE-1')
    onNext('appendAudit', (real) => async (...args) => {
      await refuseWrites(true)
      try {
        return await real(...args)
      } finally {
        await refuseWrites(false)
      }
    })
    const first = await claim(s.id)
    expect(first.status).toBe(503)
    expect(first.body.message).toMatch(/could not record the claim.*can still be claimed: retry/)
    expect(first.body.grant).toBeUndefined()
    // Approved again, with the claim deadline it had.
    expect(await stored(s.id)).toMatchObject({ status: 'approved', expires_at: s.expires_at })
    const undone = undoneEvent(s.id)
    expect(undone?.details).toMatchObject({ from: 'active', credentials_revoked: true })
    const name1 = attemptSessionName(s.id, undone?.details.jti)
    expect(await asSession(name1)).toBe('ExplicitlyDenied')

    await retried(s, name1)
    // The refused append wrote nothing: the failed attempt shows only as undone.
    expect(types(s.id)).toEqual([
      ...AFTER_APPROVAL,
      'session.claim_undone',
      'session.issued',
      'session.claim_refused',
    ])
  })

  it('the answer to the activation audit append lost: the landed activation is undone, the retry claims', async () => {
    const s = await approved('OUTAGE-2')
    onNext('appendAudit', (real) => async (...args) => {
      expect(await real(...args)).toBe('ok')
      throw new Error('Command timed out')
    })
    const first = await claim(s.id)
    expect(first.status).toBe(503)
    expect(first.body.message).toMatch(/can still be claimed: retry/)
    expect(await stored(s.id)).toMatchObject({ status: 'approved', expires_at: s.expires_at })
    const name1 = attemptSessionName(s.id, undoneEvent(s.id)?.details.jti)
    expect(await asSession(name1)).toBe('ExplicitlyDenied')

    await retried(s, name1)
    // The lost append landed: its event stays in the chain, followed by what undid it.
    expect(types(s.id)).toEqual([
      ...AFTER_APPROVAL,
      'session.issued',
      'session.claim_undone',
      'session.issued',
      'session.claim_refused',
    ])
  })

  it('the activation itself refused: the minted credentials are revoked, the retry claims', async () => {
    const s = await approved('OUTAGE-3')
    // The claim (approved -> issuing) lands; the activation is refused for a moment.
    onNext(
      'casSession',
      (real) =>
        async (...args) => {
          await refuseWrites(true)
          try {
            return await real(...args)
          } finally {
            await refuseWrites(false)
          }
        },
      1,
    )
    const first = await claim(s.id)
    expect(first.status).toBe(503)
    expect(first.body.message).toMatch(/can still be claimed: retry/)
    expect(await stored(s.id)).toMatchObject({ status: 'approved', expires_at: s.expires_at })
    const undone = undoneEvent(s.id)
    expect(undone?.details).toMatchObject({ from: 'issuing', credentials_revoked: true })
    await retried(s, attemptSessionName(s.id, undone?.details.jti))
  })

  it('Redis refusing every write through the claim: 503; the session is left for the sweeper', async () => {
    const s = await approved('OUTAGE-4')
    // The claim lands; from the activation on, nothing can be written.
    onNext(
      'casSession',
      (real) =>
        async (...args) => (await refuseWrites(true), real(...args)),
      1,
    )
    const first = await claim(s.id)
    expect(first.status).toBe(503)
    expect(first.body.message).not.toMatch(/retry/)
    await refuseWrites(false)
    // Left issuing: a retry is refused, and the sweeper expires it at the issuing deadline.
    expect((await stored(s.id))?.status).toBe('issuing')
    expect((await claim(s.id)).status).toBe(409)
    clock.advance(60_001)
    await t.broker.sweepOnce()
    expect((await stored(s.id))?.status).toBe('expired')
    expect((await claim(s.id)).status).toBe(410)
    // Its revocation, refused while the store was, runs at the expiry: the attempt is denied.
    const [name1] = assumedFor(s.id)
    expect(await asSession(name1 as string)).toBe('ExplicitlyDenied')
  })

  it('Redis not answering at the claim: 503 and nothing changed; the retry claims', async () => {
    const s = await approved('OUTAGE-5')
    redis.pause(true)
    const first = await claim(s.id)
    redis.pause(false)
    expect(first.status).toBe(503)
    expect(first.body.grant).toBeUndefined()
    const again = await claim(s.id)
    expect(again.status, JSON.stringify(again.body)).toBe(200)
    expect(assumedFor(s.id)).toHaveLength(1)
  })

  it('a revoke landing before the failed claim is undone wins: the session never returns to approved', async () => {
    const s = await approved('OUTAGE-7')
    onNext('appendAudit', (real) => async (...args) => {
      expect(await real(...args)).toBe('ok')
      // The operator's revoke waits for this append's batch: only its record is awaited here.
      void api.del(`/v1/sessions/${s.id}`, 'ops')
      await vi.waitFor(async () => expect((await stored(s.id))?.status).toBe('revoked'))
      throw new Error('Command timed out')
    })
    const first = await claim(s.id)
    expect(first.status).toBe(503)
    expect(first.body.message).not.toMatch(/retry/)
    expect((await stored(s.id))?.status).toBe('revoked')
    expect(types(s.id)).not.toContain('session.claim_undone')
    expect(await asSession(assumedFor(s.id)[0] as string)).toBe('ExplicitlyDenied')
    expect((await claim(s.id)).status).toBe(410)
  })

  it('two retries racing after the outage: exactly one gets credentials', async () => {
    const s = await approved('OUTAGE-6')
    onNext('appendAudit', (real) => async (...args) => {
      expect(await real(...args)).toBe('ok')
      throw new Error('Command timed out')
    })
    expect((await claim(s.id)).status).toBe(503)
    const both = await Promise.all([claim(s.id), claim(s.id)])
    expect(both.map((r) => r.status).sort()).toEqual([200, 409])
    // The failed attempt and one retry reached STS; the loser never did.
    expect(assumedFor(s.id)).toHaveLength(2)
  })
})

describe('a provider that mints nothing outside Airlock: the claim and its event are one write', () => {
  it('its answer lost: the landed claim is undone and the retry claims', async () => {
    const id = await api.approved({ task: { id: 'OUTAGE-JWT-1' } })
    const s = (await stored(id))!
    onNext('appendAudit', (real) => async (...args) => {
      expect(await real(...args)).toBe('ok')
      throw new Error('Command timed out')
    })
    const first = await claim(id)
    expect(first.status).toBe(503)
    expect(first.body.message).toMatch(/can still be claimed: retry/)
    expect(await stored(id)).toMatchObject({ status: 'approved', expires_at: s.expires_at, jti: null })
    const again = await claim(id)
    expect(again.status).toBe(200)
    const seen = await api.post('/v1/introspect', 'internal-api', { token: again.body.grant.token })
    expect(seen.body).toMatchObject({ active: true, sid: id })
    expect(types(id)).toEqual([...AFTER_APPROVAL, 'session.issued', 'session.claim_undone', 'session.issued'])
  })

  it('refused: nothing changed, and the 503 says so', async () => {
    const id = await api.approved({ task: { id: 'OUTAGE-JWT-2' } })
    await refuseWrites(true)
    const first = await claim(id)
    await refuseWrites(false)
    expect(first.status).toBe(503)
    expect(first.body.message).toMatch(/the audit log cannot be written, so nothing was issued: retry/)
    expect((await stored(id))?.status).toBe('approved')
    expect((await claim(id)).status).toBe(200)
    expect(types(id)).toEqual([...AFTER_APPROVAL, 'session.issued'])
  })
})
