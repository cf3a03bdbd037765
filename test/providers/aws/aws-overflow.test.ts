// When a role's deny list would outgrow its inline policy quota, every session issued before a
// cutoff is denied instead (aws:TokenIssueTime), the live ones are marked revoked in Airlock, and
// the fallback is audited and logged loudly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { attemptSessionName, denyPolicy, policyChars } from '../../../providers/aws/policy.js'
import { client, sessionBody, TestClock, testBroker, type TestBroker } from '../../helper.js'
import { awsWorld, ROLES, type AwsWorld } from '../../support/aws-setup.js'
import { jtiOf } from '../../support/jti.js'
import { simulate } from '../../support/simulate.js'

const POLICY = 'airlock-revoked-sessions'

async function setup(extra = '') {
  const clock = new TestClock()
  const w = await awsWorld({ now: () => clock.now() })
  const t = await testBroker({ clock, yaml: { providers: w.providerYaml({ extra }) } })
  return { clock, w, t, api: client(t.app, t.keys) }
}

const statements = (w: AwsWorld) => w.fake.policyOf(ROLES.staging, POLICY)?.Statement ?? []
const events = (t: TestBroker) => t.audit.map((l) => JSON.parse(l) as { type: string; details: any })

describe('aws: deny list overflow (configured budget)', () => {
  let s: Awaited<ReturnType<typeof setup>>
  beforeAll(async () => (s = await setup('    deny_policy_max_chars: 600')))
  afterAll(async () => {
    await s.t.close()
    await s.w.close()
  })

  it('falls back to aws:TokenIssueTime, marks every live session of the role revoked, and audits it', async () => {
    const { w, t, api, clock } = s
    const ids: string[] = []
    for (let i = 0; i < 14; i++) ids.push((await api.issue('build-bot', { provider: 'aws-main' })).session.id)
    const roleId = w.fake.roles.get(ROLES.staging)!.roleId

    let flippedAt = -1
    for (let i = 0; i < ids.length && flippedAt < 0; i++) {
      expect((await api.del(`/v1/sessions/${ids[i]}`, 'ops')).status).toBe(200)
      const sts = statements(w)
      if (sts.some((x: any) => x.Sid === 'AirlockRevokedBefore')) flippedAt = i
      else expect(sts[0].Condition.StringEquals['aws:userid']).toHaveLength(i + 1) // nothing lost before the flip
    }
    expect(flippedAt).toBeGreaterThan(3)
    expect(flippedAt).toBeLessThan(ids.length - 1)

    // Only the cutoff is left: it covers every session issued before it.
    const sts = statements(w)
    expect(sts).toHaveLength(1)
    const cutoff = sts[0].Condition.DateLessThan['aws:TokenIssueTime'] as string
    expect(cutoff).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    expect(Date.parse(cutoff)).toBeGreaterThan(clock.now())

    // Every session that was still live is now revoked in Airlock too, by airlock.
    for (const id of ids.slice(flippedAt + 1)) {
      const r = await api.get(`/v1/sessions/${id}`, 'ops')
      expect(r.body).toMatchObject({ status: 'revoked', revoked_by: 'airlock' })
    }
    const mass = events(t).filter((e) => e.type === 'provider.mass_revocation')
    expect(mass).toHaveLength(1)
    expect(mass[0]!.details.provider).toBe('aws-main')
    expect(mass[0]!.details.reason).toContain('aws:TokenIssueTime')
    expect([...mass[0]!.details.revoked].sort()).toEqual(ids.slice(flippedAt + 1).sort())
    expect(t.logs.lines.some((l) => /"level":50/.test(l) && l.includes('deny list overflow'))).toBe(true)

    // Evaluated by an IAM simulator: credentials issued before the cutoff are denied, later ones not.
    const at = (issued: number) =>
      simulate({
        action: 'ec2:DescribeInstances',
        resource: '*',
        rolePolicies: [w.fake.policyOf(ROLES.staging, POLICY)],
        context: { 'aws:TokenIssueTime': new Date(issued).toISOString(), 'aws:userid': `${roleId}:ses_x` },
      })
    expect(await at(Date.parse(cutoff) - 1000)).toBe('ExplicitlyDenied')
    expect(await at(Date.parse(cutoff) + 1000)).toBe('Allowed')
  })

  it('sessions issued after the cutoff work, and are denied one by one again', async () => {
    const { w, api, clock } = s
    clock.advance(2000) // past the cutoff
    const issued = await api.issue('build-bot', { provider: 'aws-main' })
    const fresh = issued.session.id
    await api.del(`/v1/sessions/${fresh}`, 'ops')
    const sts = statements(w)
    expect(sts.map((x: any) => x.Sid).sort()).toEqual(['AirlockRevokedBefore', 'AirlockRevokedSessions'])
    const roleId = w.fake.roles.get(ROLES.staging)!.roleId
    expect(
      sts.find((x: any) => x.Sid === 'AirlockRevokedSessions').Condition.StringEquals['aws:userid'],
    ).toEqual([`${roleId}:${attemptSessionName(fresh, jtiOf(issued.grant.token))}`])
  })
  it('a session whose AssumeRole is in flight when the cutoff lands is refused and revoked', async () => {
    const { w, t, api } = s
    const cutoffOf = () =>
      statements(w).find((x: any) => x.Sid === 'AirlockRevokedBefore')?.Condition.DateLessThan[
        'aws:TokenIssueTime'
      ]
    const before = cutoffOf()
    const held = w.fake.hold('AssumeRole')
    const pending = api.post(
      '/v1/sessions',
      'build-bot',
      sessionBody({ provider: 'aws-main', task: { id: 'IN-FLIGHT' } }),
    )
    await held.arrived
    // Overflow again while STS is answering the held call.
    for (let i = 0; i < 12 && cutoffOf() === before; i++) {
      const id = (await api.issue('build-bot', { provider: 'aws-main' })).session.id
      await api.del(`/v1/sessions/${id}`, 'ops')
    }
    expect(cutoffOf()).not.toBe(before)
    held.release()
    const r = await pending
    expect(r.status).toBe(503)
    expect(r.body.error).toBe('unavailable')
    expect(r.body.message).toContain('cut off while these credentials were issued')
    const inFlight = events(t).find((e) => e.type === 'session.revoked' && e.details.task_id === 'IN-FLIGHT')
    expect(inFlight).toBeDefined()
  })
})

describe('aws: deny list overflow (IAM refuses: other inline policies use the quota)', () => {
  let s: Awaited<ReturnType<typeof setup>>
  beforeAll(async () => (s = await setup()))
  afterAll(async () => {
    await s.t.close()
    await s.w.close()
  })

  it('a LimitExceeded from PutRolePolicy falls back the same way', async () => {
    const { w, t, api } = s
    // Another inline policy leaves exactly room for the cutoff statement, not for one session entry.
    const room = policyChars(denyPolicy([], '2030-01-01T00:00:00Z')!)
    const padding =
      10_240 -
      room -
      '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":""}]}'.length
    w.fake.roles.get(ROLES.staging)!.inline.set(
      'other',
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'x'.repeat(padding) }],
      }),
    )
    const a = (await api.issue('build-bot', { provider: 'aws-main' })).session.id
    const b = (await api.issue('build-bot', { provider: 'aws-main' })).session.id
    expect((await api.del(`/v1/sessions/${a}`, 'ops')).status).toBe(200)
    expect(w.fake.callsOf('PutRolePolicy').map((c) => c.status)).toEqual([409, 200])
    expect(statements(w).map((x: any) => x.Sid)).toEqual(['AirlockRevokedBefore'])
    expect((await api.get(`/v1/sessions/${b}`, 'ops')).body).toMatchObject({
      status: 'revoked',
      revoked_by: 'airlock',
    })
    expect(events(t).some((e) => e.type === 'provider.mass_revocation')).toBe(true)
    expect(await t.broker.revocations.size()).toBe(0)
  })
})
