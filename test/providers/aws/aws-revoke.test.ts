// Revoking STS credentials through the role's deny policy: exactly the revoked session, written as
// the admin role and read back, pruned after expiry, safe across replicas, retried until it lands.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { attemptSessionName, sessionOfName } from '../../../providers/aws/policy.js'
import { client, sessionBody, TestClock, testBroker, type TestBroker } from '../../helper.js'
import { awsWorld, ROLES, type AwsWorld } from '../../support/aws-setup.js'
import { SERVICE_UNAVAILABLE } from '../../support/fake-aws.js'
import { simulate } from '../../support/simulate.js'

const POLICY = 'airlock-revoked-sessions'
const clock = new TestClock()
let w: AwsWorld
let t: TestBroker
let t2: TestBroker
let api: ReturnType<typeof client>
let api2: ReturnType<typeof client>

beforeAll(async () => {
  w = await awsWorld({ now: () => clock.now() })
  t = await testBroker({ clock, yaml: { providers: w.providerYaml() } })
  // A second replica: same Redis prefix, same config.
  t2 = await testBroker({ clock, prefix: t.prefix, keys: t.keys, yaml: { providers: w.providerYaml() } })
  api = client(t.app, t.keys)
  api2 = client(t2.app, t2.keys)
})
afterAll(async () => {
  await t2.broker.close()
  await t.close()
  await w.close()
})

const roleId = () => w.fake.roles.get(ROLES.staging)!.roleId
const denied = (): string[] => {
  const doc = w.fake.policyOf(ROLES.staging, POLICY)
  return (
    doc?.Statement.find((s: any) => s.Sid === 'AirlockRevokedSessions')?.Condition.StringEquals[
      'aws:userid'
    ] ?? []
  )
}
const issue = async (a = api, over: Record<string, unknown> = {}) =>
  (await a.issue('build-bot', { provider: 'aws-main', ...over })).session.id as string
const aws = () => t.broker.runtime().providers.get('aws-main')!
const backlog = () => t.broker.revocations.size()
/** The STS session name of a session's (one) issue attempt: named after the attempt's jti. */
const nameOf = async (sid: string) => attemptSessionName(sid, (await t.broker.store.getSession(sid))!.jti!)
/** The deny-list entry (aws:userid) of a session's credentials. */
const entry = async (sid: string) => `${roleId()}:${await nameOf(sid)}`

describe('aws: revocation by deny policy', () => {
  it('revoke denies exactly that session, as the admin role, and reads the policy back', async () => {
    const s1 = await issue()
    const s2 = await issue()
    const calls = w.fake.calls.length
    expect((await api.del(`/v1/sessions/${s1}`, 'build-bot')).body.session.status).toBe('revoked')
    expect(denied()).toEqual([await entry(s1)])
    const iamCalls = w.fake.calls.slice(calls).filter((c) => c.service === 'iam')
    expect(iamCalls.map((c) => c.action)).toEqual(['PutRolePolicy', 'GetRolePolicy'])
    for (const c of iamCalls)
      expect(c.caller).toBe('arn:aws:sts::111111111111:assumed-role/airlock-admin/airlock-aws-main')
    expect(w.fake.callsOf('AssumeRole').some((c) => c.params['RoleArn'] === ROLES.stagingAdmin)).toBe(true)
    // The role id came with the credentials: no GetRole needed.
    expect(w.fake.callsOf('GetRole')).toHaveLength(0)

    // Evaluated by an IAM simulator: the revoked session can do nothing, the other one still works.
    const policy = w.fake.policyOf(ROLES.staging, POLICY)
    const asSession = (sid: string) =>
      simulate({
        action: 's3:GetObject',
        resource: 'arn:aws:s3:::staging-bucket/key',
        rolePolicies: [policy],
        principal: `arn:aws:sts::111111111111:assumed-role/airlock-staging/${sid}`,
        context: { 'aws:userid': `${roleId()}:${sid}` },
      })
    expect(await asSession(await nameOf(s1))).toBe('ExplicitlyDenied')
    expect(await asSession(await nameOf(s2))).toBe('Allowed')
  })

  it('is idempotent: revoking again changes nothing', async () => {
    const before = denied()
    const sid = sessionOfName(before[0]!.split(':')[1]!)
    expect((await api.del(`/v1/sessions/${sid}`, 'ops')).body.session.status).toBe('revoked')
    const rec = await t.broker.store.getSession(sid)
    const input = {
      sessionId: sid,
      environment: 'staging',
      operationClass: 'read',
      handle: rec!.handle,
      expiresAt: rec!.expires_at,
    }
    await aws().revoke(input)
    await aws().revoke(input)
    expect(denied()).toEqual(before)
  })

  it('two replicas revoking different sessions on one role at the same moment both end up denied', async () => {
    const a = await issue(api)
    const b = await issue(api2)
    // Replica 1 is mid-write (its PutRolePolicy, listing a, is held at "AWS")...
    const held = w.fake.hold('PutRolePolicy')
    const ra = api.del(`/v1/sessions/${a}`, 'ops')
    await held.arrived
    // ...when replica 2 revokes b. Without the per-role lock, replica 2 would write [a, b] now and
    // replica 1's late write of [a] would then erase b. With it, replica 2 waits its turn.
    const bWrote = w.fake.nextCall('PutRolePolicy').then(() => 'replica 2 wrote during replica 1 write')
    const rb = api2.del(`/v1/sessions/${b}`, 'ops')
    const bounded = new Promise((r) => setTimeout(() => r('replica 2 waited'), 300))
    expect(await Promise.race([bWrote, bounded])).toBe('replica 2 waited')
    held.release()
    expect([(await ra).status, (await rb).status]).toEqual([200, 200])
    expect(denied()).toEqual(expect.arrayContaining([await entry(a), await entry(b)]))
    expect(await backlog()).toBe(0)
  })

  it('a revoke racing a prune never loses its entry', async () => {
    const c = await issue()
    w.fake.slow('PutRolePolicy', 30)
    try {
      await Promise.all([
        api.del(`/v1/sessions/${c}`, 'ops'),
        aws().reap(async () => new Set()),
        t2.broker
          .runtime()
          .providers.get('aws-main')!
          .reap(async () => new Set()),
      ])
    } finally {
      w.fake.slow('PutRolePolicy', 0)
    }
    expect(denied()).toContain(await entry(c))
  })

  it('a failed write is queued and retried until IAM confirms it', async () => {
    const d = await issue()
    // Four 503s: the provider's own bounded retries give up, the broker queues the revocation.
    w.fake.fail(
      'PutRolePolicy',
      SERVICE_UNAVAILABLE,
      SERVICE_UNAVAILABLE,
      SERVICE_UNAVAILABLE,
      SERVICE_UNAVAILABLE,
    )
    expect((await api.del(`/v1/sessions/${d}`, 'ops')).body.session.status).toBe('revoked')
    expect(denied()).not.toContain(await entry(d))
    expect(await backlog()).toBe(1)
    clock.advance(5 * 60_000) // past the first backoff; the credentials (30 min) are still valid
    await t.broker.sweepOnce()
    expect(await backlog()).toBe(0)
    expect(denied()).toContain(await entry(d))
  })

  it('expiry: a session shorter than its 900 s credentials is denied when it ends; a long one needs no entry', async () => {
    const short = await issue(api, { ttl_seconds: 60 })
    const long = await issue(api, { ttl_seconds: 1200 })
    clock.advance(61_000)
    await t.broker.sweepOnce()
    expect((await api.get(`/v1/sessions/${short}`, 'ops')).body.status).toBe('expired')
    expect(denied()).toContain(await entry(short))
    clock.advance(1200_000)
    await t.broker.sweepOnce()
    expect((await api.get(`/v1/sessions/${long}`, 'ops')).body.status).toBe('expired')
    expect(denied()).not.toContain(await entry(long))
  })

  it('prunes entries once the credentials they name have expired, and drops the policy when empty', async () => {
    const f = await issue()
    await api.del(`/v1/sessions/${f}`, 'ops')
    expect(denied()).toContain(await entry(f))
    clock.advance(15 * 60_000) // the credentials expired, but the skew margin still holds the entry
    await aws().reap(async () => new Set())
    expect(denied()).toContain(await entry(f))
    const deletes = w.fake.callsOf('DeleteRolePolicy').length
    clock.advance(2 * 3600_000) // past every credential's expiry plus the skew margin
    const pruned = await aws().reap(async () => new Set())
    expect(pruned).toBeGreaterThan(0)
    expect(w.fake.policyOf(ROLES.staging, POLICY)).toBeNull()
    expect(w.fake.callsOf('DeleteRolePolicy').length).toBe(deletes + 1)
    // Nothing left to prune: no IAM write.
    const puts = w.fake.callsOf('PutRolePolicy').length
    expect(await aws().reap(async () => new Set())).toBe(0)
    expect(w.fake.callsOf('PutRolePolicy').length).toBe(puts)
  })

  it('repairs a policy that was changed behind its back', async () => {
    const e = await issue()
    await api.del(`/v1/sessions/${e}`, 'ops')
    w.fake.roles.get(ROLES.staging)!.inline.delete(POLICY) // someone deleted it by hand
    await aws().reap(async () => new Set())
    expect(denied()).toEqual([await entry(e)])
  })

  it("without a handle (issuing never finished) it denies by its attempt's session name, or does nothing if STS was never asked", async () => {
    await aws().revoke({
      sessionId: 'ses_neverASKED00000000000001',
      environment: 'staging',
      operationClass: 'read',
      handle: null,
      expiresAt: clock.now() + 60_000,
    })
    expect(denied().some((u) => u.endsWith('ses_neverASKED00000000000001'))).toBe(false)
    // STS was asked but the handle never reached the record (a crash): GetRole supplies the role id.
    const r = await api.post(
      '/v1/sessions',
      'build-bot',
      sessionBody({ provider: 'aws-main', task: { id: 'LOST-1' } }),
    )
    const sid = r.body.session.id as string
    await aws().revoke({
      sessionId: sid,
      attempt: (await t.broker.store.getSession(sid))!.jti,
      environment: 'staging',
      operationClass: 'read',
      handle: null,
      expiresAt: clock.now() + 60_000,
    })
    expect(denied()).toContain(await entry(sid))
    expect(w.fake.callsOf('GetRole')).toHaveLength(1)
  })
})
