// The broker's AWS key kept in Airlock's own vault (`credentials: vault:aws/broker`): written over
// the API, used to issue and revoke against the fake STS/IAM, rotated without a restart, and never
// seen in any response, log line, audit event or (unsealed) in Redis.
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisKeys } from '../../../src/store/keys.js'
import { captureResponses, client, sessionBody, testBroker, type TestBroker } from '../../helper.js'
import {
  awsWorld,
  BROKER_AKID,
  BROKER_ARN,
  CANARY_AWS_SECRET,
  ROLES,
  type AwsWorld,
} from '../../support/aws-setup.js'
import { arrives } from '../../support/bounded.js'
import { jtiOf } from '../../support/jti.js'
import { attemptSessionName } from '../../../providers/aws/policy.js'

const ROTATED_AKID = 'AKIAAIRLOCKBROKER002'
const ROTATED_SECRET = 'Zq9xVbN2/K7MDENG/CANARYrotated4c1e8a0f7b3d'
const CANARY_IN_BAD_VALUE = 'CANARYbadvalue5d2e9f1a'
const POLICY = 'airlock-revoked-sessions'

let w: AwsWorld
let t: TestBroker
let api: ReturnType<typeof client>
const responses: string[] = []

beforeAll(async () => {
  w = await awsWorld()
  w.fake.addUser(BROKER_ARN, ROTATED_AKID, ROTATED_SECRET)
  const providers = w
    .providerYaml()
    .replace(`credentials: file:${w.keyFile}`, 'credentials: vault:aws/broker')
  expect(providers).toContain('credentials: vault:aws/broker')
  t = await testBroker({ masterKey: randomBytes(32), yaml: { providers } })
  api = client(t.app, t.keys)
  captureResponses(t.app, responses)
})
afterAll(async () => {
  await t.close()
  await w.close()
})

/** Resolves once this broker has heard of a change to `path` (after its own listeners ran). */
const vaultChange = (path: string) =>
  new Promise<void>((resolve) => t.app.broker.vault!.onChange((p) => p === path && resolve()))

/** PUT /v1/vault/{path} as the admin, then waits for the change notification to come back. */
async function putSecret(path: string, value: string) {
  const heard = vaultChange(path)
  const r = await t.app.inject({
    method: 'PUT',
    url: `/v1/vault/${path}`,
    headers: t.as('ops'),
    payload: { value },
  })
  expect(r.statusCode, r.body).toBe(204)
  await arrives(heard, "the vault's change notification")
}

const brokerKey = (akid: string, secret: string) =>
  JSON.stringify({ access_key_id: akid, secret_access_key: secret })
const lastAssume = () => w.fake.callsOf('AssumeRole').at(-1)!
const denied = (): string[] =>
  w.fake.policyOf(ROLES.staging, POLICY)?.Statement.find((s: any) => s.Sid === 'AirlockRevokedSessions')
    ?.Condition.StringEquals['aws:userid'] ?? []
const issue = async () =>
  (await api.issue('build-bot', { provider: 'aws-main' })) as {
    session: Record<string, any>
    grant: { token: string; expires_at: string; credentials: Record<string, string> }
  }

describe('aws with its key in the vault', () => {
  it('issues and revokes with the key written through the API; rotation takes effect without a restart', async () => {
    // Nothing in the vault yet: 503, naming the path.
    const none = await api.post(
      '/v1/sessions',
      'build-bot',
      sessionBody({ provider: 'aws-main', task: { id: 'V-0' } }),
    )
    expect(none.status).toBe(503)
    expect(none.body.error).toBe('unavailable')
    expect(none.body.message).toContain('aws/broker')

    await putSecret('aws/broker', brokerKey(BROKER_AKID, CANARY_AWS_SECRET))
    const s1 = await issue()
    expect(lastAssume()).toMatchObject({ accessKeyId: BROKER_AKID, caller: BROKER_ARN, status: 200 })
    expect(s1.grant.credentials['access_key_id']).toMatch(/^ASIA/)
    const s2 = await issue()

    // Revocation writes the deny policy as the admin role, assumed with the vault's key.
    expect((await api.del(`/v1/sessions/${s1.session.id}`, 'ops')).body.session.status).toBe('revoked')
    const roleId = w.fake.roles.get(ROLES.staging)!.roleId
    const entry = (s: typeof s1) => `${roleId}:${attemptSessionName(s.session.id, jtiOf(s.grant.token))}`
    expect(denied()).toEqual([entry(s1)])
    const adminAssume = w.fake.callsOf('AssumeRole').find((c) => c.params['RoleArn'] === ROLES.stagingAdmin)
    expect(adminAssume?.accessKeyId).toBe(BROKER_AKID)

    // Rotation: a new key through the vault; the old one is then deactivated at AWS.
    await putSecret('aws/broker', brokerKey(ROTATED_AKID, ROTATED_SECRET))
    w.fake.identities.delete(BROKER_AKID)
    const callsBefore = w.fake.calls.length
    const s3 = await issue()
    expect(lastAssume()).toMatchObject({ accessKeyId: ROTATED_AKID, caller: BROKER_ARN, status: 200 })
    // Revoking after the rotation: the admin role is assumed again, with the new key.
    expect((await api.del(`/v1/sessions/${s2.session.id}`, 'build-bot')).body.session.status).toBe('revoked')
    expect(denied().sort()).toEqual([entry(s1), entry(s2)].sort())
    const after = w.fake.calls.slice(callsBefore)
    expect(after.filter((c) => c.status !== 200)).toEqual([])
    expect(after.map((c) => c.accessKeyId)).not.toContain(BROKER_AKID)
    expect(
      after.filter((c) => c.action === 'AssumeRole').map((c) => [c.params['RoleArn'], c.accessKeyId]),
    ).toEqual([
      [ROLES.staging, ROTATED_AKID],
      [ROLES.stagingAdmin, ROTATED_AKID],
    ])

    // A value that is not the key's JSON: the error names the reference, never the content.
    await putSecret(
      'aws/broker',
      `{"access_key_id": "${ROTATED_AKID}", "secret_access_key": "${CANARY_IN_BAD_VALUE}"`,
    )
    const bad = await api.post(
      '/v1/sessions',
      'build-bot',
      sessionBody({ provider: 'aws-main', task: { id: 'V-BAD' } }),
    )
    expect(bad.status).toBe(503)
    expect(bad.body.message).toContain('vault:aws/broker')
    const health = await api.get('/v1/providers', 'ops')
    const aws = health.body.providers.find((p: { name: string }) => p.name === 'aws-main')
    expect(aws).toMatchObject({ ok: false, error: expect.stringContaining('vault:aws/broker') })

    await putSecret('aws/broker', brokerKey(ROTATED_AKID, ROTATED_SECRET))
    await issue()
    expect(
      (await api.get('/v1/providers', 'ops')).body.providers.find(
        (p: { name: string }) => p.name === 'aws-main',
      ),
    ).toMatchObject({ ok: true, error: null })
    expect((await api.del(`/v1/sessions/${s3.session.id}`, 'ops')).status).toBe(200)
    await t.broker.sweepOnce()
    await api.get('/v1/vault', 'ops')
    await api.get('/v1/audit?limit=1000', 'ops')
    await t.app.inject({ method: 'GET', url: '/metrics' })

    // The vault's writes are audited with the path and version only.
    const written = t.audit.map((l) => JSON.parse(l)).filter((e) => e.type === 'vault.written')
    expect(written.map((e) => e.details)).toEqual(
      [1, 2, 3, 4].map((version) => ({ path: 'aws/broker', version })),
    )

    const everything = [...responses, ...t.logs.lines, ...t.audit].join('\n')
    expect(responses.length).toBeGreaterThan(20)
    // The log holds the failure that could have quoted the bad value (one line per 5xx).
    expect(t.logs.lines.length).toBeGreaterThan(3)
    expect(t.logs.lines.some((l) => l.includes('request failed') && l.includes('vault:aws/broker'))).toBe(
      true,
    )
    for (const canary of [CANARY_AWS_SECRET, ROTATED_SECRET, CANARY_IN_BAD_VALUE, 'CANARY']) {
      const at = everything.indexOf(canary)
      expect(at, everything.slice(Math.max(0, at - 300), at + 100)).toBe(-1)
    }

    // Redis holds the key sealed only.
    const redis = new Redis(t.redisUrl)
    try {
      const k = redisKeys(t.prefix)
      const sealed = JSON.stringify(await redis.hgetall(k.vault))
      expect(sealed).toContain('aws/broker')
      for (const canary of [CANARY_AWS_SECRET, ROTATED_SECRET, CANARY_IN_BAD_VALUE, 'CANARY'])
        expect(sealed).not.toContain(canary)
    } finally {
      redis.disconnect()
    }
  })
})
