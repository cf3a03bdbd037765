// An AWS claim undone after too few Redis replicas acknowledged it (see docs/high-availability.md),
// then retried: each issue attempt has its own STS session name, so the undone attempt's
// credentials are denied by name while the retry's fresh credentials keep working, also when the
// undone attempt's revocation had to be queued and lands only after the retry was issued.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { attemptSessionName } from '../../../providers/aws/policy.js'
import { redisProviderState } from '../../../src/store/provider-state.js'
import { client, TestClock, testBroker, type TestBroker } from '../../helper.js'
import { awsWorld, ROLES, type AwsWorld } from '../../support/aws-setup.js'
import { SERVICE_UNAVAILABLE, tagsOf } from '../../support/fake-aws.js'
import { simulate } from '../../support/simulate.js'
import { jtiOf } from '../../support/jti.js'
import { claimUndone } from '../../support/unacked.js'

const clock = new TestClock()
let w: AwsWorld
let t: TestBroker
let api: ReturnType<typeof client>

beforeAll(async () => {
  w = await awsWorld({ now: () => clock.now() })
  t = await testBroker({ clock, yaml: { providers: w.providerYaml() } })
  api = client(t.app, t.keys)
})
afterEach(() => vi.restoreAllMocks())
afterAll(async () => {
  await t.close()
  await w.close()
})

const roleId = () => w.fake.roles.get(ROLES.staging)!.roleId
const denyPolicy = () => w.fake.policyOf(ROLES.staging, 'airlock-revoked-sessions')
const denied = (): string[] =>
  denyPolicy()?.Statement.find((s: any) => s.Sid === 'AirlockRevokedSessions')?.Condition.StringEquals[
    'aws:userid'
  ] ?? []
/** What the role's policies let an STS session of this name do (an IAM policy simulator decides). */
const asSession = (name: string) =>
  simulate({
    action: 's3:DeleteObject',
    resource: 'arn:aws:s3:::staging-bucket/key',
    rolePolicies: denyPolicy() ? [denyPolicy()] : [],
    principal: `arn:aws:sts::111111111111:assumed-role/airlock-staging/${name}`,
    context: { 'aws:userid': `${roleId()}:${name}` },
  })

/** An approved destructive staging request of build-bot on aws-main (bob and carol approve). */
const approved = (task: string) => api.approved({ provider: 'aws-main', task: { id: task } })
const claim = (id: string) => api.post(`/v1/sessions/${id}/grant`, 'build-bot')
/** The AssumeRole calls that answered for a session (by its session tag). */
const assumedFor = (id: string) =>
  w.fake.callsOf('AssumeRole').filter((c) => c.status === 200 && tagsOf(c)['airlock:session-id'] === id)

describe('aws: a claim undone and retried', () => {
  it('gets fresh credentials under a new session name; the undone ones are denied, the new ones work', async () => {
    const id = await approved('RETRY-1')
    const undone = await claimUndone(t, id)
    expect(undone.details).toMatchObject({ from: 'active', credentials_revoked: true })
    const name1 = attemptSessionName(id, undone.details.jti)
    expect(denied()).toContain(`${roleId()}:${name1}`)

    const again = await claim(id)
    expect(again.status).toBe(200)
    const name2 = attemptSessionName(id, jtiOf(again.body.grant.token))
    expect(name2).not.toBe(name1)
    // Two AssumeRole calls, one per attempt, each under its own name and tagged with the session.
    expect(assumedFor(id).map((c) => c.params['RoleSessionName'])).toEqual([name1, name2])
    const issued = w.fake.identities.get(again.body.grant.credentials.access_key_id)!
    expect(issued.arn).toBe(`arn:aws:sts::111111111111:assumed-role/airlock-staging/${name2}`)
    expect(denied()).not.toContain(`${roleId()}:${name2}`)
    expect(await asSession(name1)).toBe('ExplicitlyDenied')
    expect(await asSession(name2)).toBe('Allowed')

    // Ending the session denies the second attempt too.
    expect((await api.del(`/v1/sessions/${id}`, 'ops')).status).toBe(200)
    expect(denied()).toEqual(expect.arrayContaining([`${roleId()}:${name1}`, `${roleId()}:${name2}`]))
    expect(await asSession(name2)).toBe('ExplicitlyDenied')
  })

  it('a revocation that had to be queued lands after the retry was issued and denies only the undone attempt', async () => {
    const id = await approved('RETRY-2')
    // Four 503s: the provider's bounded retries give up and the broker queues the revocation.
    w.fake.fail('PutRolePolicy', ...Array(4).fill(SERVICE_UNAVAILABLE))
    const undone = await claimUndone(t, id)
    expect(undone.details).toMatchObject({ credentials_revoked: false, credentials_revocation_queued: true })
    const name1 = attemptSessionName(id, undone.details.jti)
    expect(denied()).not.toContain(`${roleId()}:${name1}`)
    expect(await t.broker.revocations.size()).toBe(1)

    const again = await claim(id)
    expect(again.status).toBe(200)
    const name2 = attemptSessionName(id, jtiOf(again.body.grant.token))

    clock.advance(5 * 60_000) // past the first backoff; both attempts' credentials are still valid
    await t.broker.sweepOnce()
    expect(await t.broker.revocations.size()).toBe(0)
    expect(denied()).toContain(`${roleId()}:${name1}`)
    expect(denied()).not.toContain(`${roleId()}:${name2}`)
    expect(await asSession(name1)).toBe('ExplicitlyDenied')
    expect(await asSession(name2)).toBe('Allowed')
    expect((await api.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('active')
    const seen = await api.post('/v1/introspect', 'ops', { token: again.body.grant.token })
    expect(seen.body).toMatchObject({ active: true, sid: id })
  })

  it('credentials named after the session by an earlier version still revoke, with or without a handle', async () => {
    const aws = t.broker.runtime().providers.get('aws-main')!
    const iso = (ms: number) => new Date(ms).toISOString()
    // A handle as earlier versions wrote it: the STS session named after the Airlock session.
    const withHandle = 'ses_legacyHANDLE00000000001'
    await aws.revoke({
      sessionId: withHandle,
      attempt: 'jtiOfTheLegacyRecord1',
      environment: 'staging',
      operationClass: 'destructive',
      handle: {
        role_arn: ROLES.staging,
        role_id: roleId(),
        session_name: withHandle,
        access_key_id: 'ASIALEGACY0000000001',
        issued_at: iso(clock.now()),
        expiration: iso(clock.now() + 900_000),
      },
      expiresAt: clock.now() + 600_000,
    })
    expect(denied()).toContain(`${roleId()}:${withHandle}`)
    expect(await asSession(withHandle)).toBe('ExplicitlyDenied')
    expect(denied()).not.toContain(`${roleId()}:${attemptSessionName(withHandle, 'jtiOfTheLegacyRecord1')}`)

    // Issuing that never finished under an earlier version: its issue was recorded by session id.
    const noHandle = 'ses_legacyNOHANDLE000000001'
    const backend = t.broker.backend
    if (backend.kind !== 'redis') throw new Error('expected the Redis backend')
    await redisProviderState(
      backend.redis,
      backend.prefix,
    )('aws-main').zadd(`issued:${ROLES.staging}`, [{ member: noHandle, score: clock.now() }])
    await aws.revoke({
      sessionId: noHandle,
      attempt: 'jtiOfTheLegacyRecord2',
      environment: 'staging',
      operationClass: 'destructive',
      handle: null,
      expiresAt: clock.now() + 600_000,
    })
    expect(denied()).toContain(`${roleId()}:${noHandle}`)
  })
})
