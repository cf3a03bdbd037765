// The aws provider issuing through the real broker and the real SDK, against a local STS/IAM.
import { writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { credentialProcessOutput } from '../../../providers/aws/credential-process.js'
import { attemptSessionName, sessionOfName } from '../../../providers/aws/policy.js'
import { awsProvider } from '../../../providers/aws/index.js'
import { createLogger } from '../../../src/log.js'
import { createSecretSource } from '../../../src/secrets/source.js'
import { memoryProviderState } from '../../../src/store/provider-state.js'
import { client, sessionBody, testBroker, type TestBroker } from '../../helper.js'
import {
  ACTIONS,
  awsWorld,
  BROKER_AKID,
  BROKER_ARN,
  CANARY_AWS_SECRET,
  PROD_EXTERNAL_ID,
  ROLES,
  type AwsWorld,
} from '../../support/aws-setup.js'
import { SERVICE_UNAVAILABLE, tagsOf, THROTTLING } from '../../support/fake-aws.js'
import { jtiOf } from '../../support/jti.js'

let w: AwsWorld
let t: TestBroker
let api: ReturnType<typeof client>
const body = (over: Record<string, unknown> = {}) => sessionBody({ provider: 'aws-main', ...over })

beforeAll(async () => {
  w = await awsWorld()
  t = await testBroker({
    yaml: {
      providers:
        w.providerYaml() +
        w.providerYaml({
          name: 'aws-staging-only',
          environments: `      staging: { role_arn: "${ROLES.sameAccount}" }`,
        }),
    },
  })
  api = client(t.app, t.keys)
})
afterAll(async () => {
  await t.close()
  await w.close()
})

const lastAssume = () => w.fake.callsOf('AssumeRole').at(-1)!

describe('aws: issuing', () => {
  it('assumes the environment role once, with the exact session parameters, signed with the broker key', async () => {
    const r = await api.post(
      '/v1/sessions',
      'build-bot',
      body({ ttl_seconds: 1200, task: { id: 'OPS-7/a:b' } }),
    )
    expect(r.status).toBe(201)
    const sid = r.body.session.id as string
    const call = lastAssume()
    expect(call.status).toBe(200)
    expect(call.accessKeyId).toBe(BROKER_AKID)
    expect(call.caller).toBe(BROKER_ARN)
    expect(call.params['RoleArn']).toBe(ROLES.staging)
    // Named after this issue attempt (the token's jti), so revoking another attempt spares it.
    expect(call.params['RoleSessionName']).toBe(attemptSessionName(sid, jtiOf(r.body.grant.token)))
    expect(call.params['RoleSessionName']).toMatch(new RegExp(`^${sid}\\.[0-9a-f]{8}$`))
    expect(call.params['SourceIdentity']).toBe('build-bot')
    expect(call.params['ExternalId']).toBeUndefined()
    // A second short of the session's remaining time, so the credentials die before the session.
    expect(Number(call.params['DurationSeconds'])).toBeGreaterThanOrEqual(1197)
    expect(Number(call.params['DurationSeconds'])).toBeLessThanOrEqual(1199)
    expect(tagsOf(call)).toEqual({
      'airlock:environment': 'staging',
      'airlock:operation-class': 'read',
      'airlock:session-id': sid,
      'airlock:task-id': 'OPS-7/a:b',
      'airlock:agent': 'build-bot',
    })
    expect(JSON.parse(call.params['Policy']!)).toEqual({
      Version: '2012-10-17',
      Statement: [{ Sid: 'Airlockread', Effect: 'Allow', Action: ACTIONS.read, Resource: '*' }],
    })

    const creds = r.body.grant.credentials
    expect(Object.keys(creds).sort()).toEqual(
      ['access_key_id', 'expiration', 'region', 'secret_access_key', 'session_token'].sort(),
    )
    expect(creds.access_key_id).toMatch(/^ASIA/)
    expect(creds.region).toBe('eu-west-1')
    const issued = w.fake.identities.get(creds.access_key_id)!
    expect(issued.secretAccessKey).toBe(creds.secret_access_key)
    expect(issued.sessionToken).toBe(creds.session_token)
    // The credentials end no later than the session.
    expect(Date.parse(creds.expiration)).toBeLessThanOrEqual(Date.parse(r.body.session.expires_at))
    expect(Date.parse(creds.expiration)).toBe(issued.expiresAt)
  })

  it('a session shorter than 900 s gets 900 s credentials, but its expiration is the session end', async () => {
    const r = await api.post('/v1/sessions', 'build-bot', body({ ttl_seconds: 120 }))
    expect(r.status).toBe(201)
    expect(lastAssume().params['DurationSeconds']).toBe('900')
    expect(r.body.grant.credentials.expiration).toBe(r.body.session.expires_at)
    expect(r.body.grant.expires_at).toBe(r.body.session.expires_at)
    const out = credentialProcessOutput(r.body.grant)
    expect(out).toEqual({
      Version: 1,
      AccessKeyId: r.body.grant.credentials.access_key_id,
      SecretAccessKey: r.body.grant.credentials.secret_access_key,
      SessionToken: r.body.grant.credentials.session_token,
      Expiration: r.body.session.expires_at,
    })
  })

  it('prod uses the prod role and its external id, and every class its own actions', async () => {
    // Prod needs an approval (another branch's route): the provider is called as the core calls it.
    const aws = t.broker.runtime().providers.get('aws-main')!
    const issued = await aws.issue({
      sessionId: 'ses_prodPROD0000000000000001',
      attempt: 'jtiPROD1',
      agent: 'build-bot',
      taskId: 'P-1',
      environment: 'prod',
      operationClass: 'read',
      ttlSeconds: 900,
      expiresAt: Date.now() + 900_000,
    })
    const call = lastAssume()
    expect(call.params['RoleArn']).toBe(ROLES.prod)
    expect(call.params['ExternalId']).toBe(PROD_EXTERNAL_ID)
    expect(tagsOf(call)['airlock:environment']).toBe('prod')
    expect(issued.handle).toMatchObject({
      role_arn: ROLES.prod,
      role_id: w.fake.roles.get(ROLES.prod)!.roleId,
      session_name: attemptSessionName('ses_prodPROD0000000000000001', 'jtiPROD1'),
    })
    expect(call.params['RoleSessionName']).toBe(issued.handle['session_name'])
    // The same attempt is never minted twice.
    await expect(
      aws.issue({
        sessionId: 'ses_prodPROD0000000000000001',
        attempt: 'jtiPROD1',
        agent: 'build-bot',
        taskId: 'P-1',
        environment: 'prod',
        operationClass: 'read',
        ttlSeconds: 900,
        expiresAt: Date.now() + 900_000,
      }),
    ).rejects.toThrow(/already issued/)
    expect(lastAssume()).toBe(call)

    await api.issue('build-bot', { provider: 'aws-main', operation_class: 'write' })
    expect(JSON.parse(lastAssume().params['Policy']!).Statement[0].Action).toEqual(ACTIONS.write)
  })

  it('a staging session can never be issued against the prod role, whatever the request says', async () => {
    const before = w.fake.callsOf('AssumeRole').length
    for (const extra of [
      { role_arn: ROLES.prod },
      { environment: 'staging', credentials: { role_arn: ROLES.prod } },
      { task: { id: 'X-1', role_arn: ROLES.prod } },
    ]) {
      const r = await api.post('/v1/sessions', 'build-bot', body(extra))
      expect(r.status).toBe(400)
      expect(r.body.error).toBe('invalid_request')
    }
    // A provider without prod is refused for prod before anything reaches AWS.
    const r = await api.post(
      '/v1/sessions',
      'build-bot',
      body({ provider: 'aws-staging-only', environment: 'prod' }),
    )
    expect(r.status).toBe(400)
    expect(r.body.message).toContain("not configured for environment 'prod'")
    expect(w.fake.callsOf('AssumeRole').length).toBe(before)
    // Every session of staging went to the staging role; the prod role only ever saw prod sessions.
    for (const c of w.fake.callsOf('AssumeRole').filter((c) => c.params['RoleArn'] === ROLES.prod)) {
      expect(tagsOf(c)['airlock:environment']).toBe('prod')
    }
    const staged = await api.issue('build-bot', { provider: 'aws-main' })
    expect(lastAssume().params['RoleArn']).toBe(ROLES.staging)
    expect(lastAssume().params['RoleSessionName']).toBe(
      attemptSessionName(staged.session.id, jtiOf(staged.grant.token)),
    )
  })

  it('throttling is retried with the same session name: exactly one successful AssumeRole', async () => {
    const before = w.fake.callsOf('AssumeRole').length
    w.fake.fail('AssumeRole', THROTTLING, SERVICE_UNAVAILABLE)
    const r = await api.post('/v1/sessions', 'build-bot', body({ task: { id: 'THROTTLE-1' } }))
    expect(r.status).toBe(201)
    const calls = w.fake.callsOf('AssumeRole').slice(before)
    expect(calls.map((c) => c.status)).toEqual([400, 503, 200])
    expect(new Set(calls.map((c) => c.params['RoleSessionName']))).toEqual(
      new Set([attemptSessionName(r.body.session.id, jtiOf(r.body.grant.token))]),
    )
  })

  it('throttling that does not stop is a 503 after bounded retries, and the session does not stay live', async () => {
    const before = w.fake.callsOf('AssumeRole').length
    w.fake.fail('AssumeRole', THROTTLING, THROTTLING, THROTTLING, THROTTLING)
    const r = await api.post('/v1/sessions', 'build-bot', body({ task: { id: 'THROTTLE-2' } }))
    expect(r.status).toBe(503)
    expect(r.body.error).toBe('unavailable')
    expect(r.body.message).toContain('Throttling')
    const calls = w.fake
      .callsOf('AssumeRole')
      .slice(before)
      .filter((c) => c.params['RoleArn'] === ROLES.staging)
    expect(calls.map((c) => c.status)).toEqual([400, 400, 400, 400])
    const name = calls[0]!.params['RoleSessionName']!
    const sid = sessionOfName(name)
    expect(tagsOf(calls[0]!)['airlock:session-id']).toBe(sid)
    expect(new Set(calls.map((c) => c.params['RoleSessionName']))).toEqual(new Set([name]))
    expect((await api.get(`/v1/sessions/${sid}`, 'ops')).body.status).toBe('revoked')
    // An answer may have been lost in transit, so the attempt's session name is denied all the same.
    const denied = w.fake.policyOf(ROLES.staging, 'airlock-revoked-sessions')
    expect(denied.Statement[0].Condition.StringEquals['aws:userid']).toContain(
      `${w.fake.roles.get(ROLES.staging)!.roleId}:${name}`,
    )
  })

  it('a refusal (AccessDenied) is not retried: one call, 503', async () => {
    const before = w.fake.callsOf('AssumeRole').length
    w.fake.fail('AssumeRole', {
      status: 403,
      code: 'AccessDenied',
      message: 'not authorized to perform: sts:AssumeRole',
    })
    const r = await api.post('/v1/sessions', 'build-bot', body({ task: { id: 'DENIED-1' } }))
    expect(r.status).toBe(503)
    expect(r.body.message).toContain('AccessDenied')
    expect(w.fake.callsOf('AssumeRole').length - before).toBe(1)
  })

  it('reports health through GET /v1/providers: the last failure until the next success', async () => {
    const health = async () =>
      (await api.get('/v1/providers', 'ops')).body.providers.find(
        (p: { name: string }) => p.name === 'aws-main',
      )
    expect(await health()).toMatchObject({
      type: 'aws',
      ok: false,
      error: expect.stringContaining('AccessDenied'),
    })
    await api.issue('build-bot', { provider: 'aws-main' })
    expect(await health()).toMatchObject({ type: 'aws', ok: true, error: null })
    expect(w.fake.callsOf('GetCallerIdentity').at(-1)?.accessKeyId).toBe(BROKER_AKID)
  })

  it('without an admin role, IAM calls run as the broker itself (one-account setup)', async () => {
    const s = await api.issue('build-bot', { provider: 'aws-staging-only' })
    expect(lastAssume().params['RoleArn']).toBe(ROLES.sameAccount)
    const puts = w.fake.callsOf('PutRolePolicy').length
    const name = lastAssume().params['RoleSessionName']
    expect(name).toBe(attemptSessionName(s.session.id, jtiOf(s.grant.token)))
    await api.del(`/v1/sessions/${s.session.id}`, 'ops')
    const put = w.fake.callsOf('PutRolePolicy')[puts]!
    expect(put.caller).toBe(BROKER_ARN)
    expect(put.params['RoleName']).toBe('airlock-dev')
    expect(
      w.fake.policyOf(ROLES.sameAccount, 'airlock-revoked-sessions').Statement[0].Condition.StringEquals[
        'aws:userid'
      ],
    ).toEqual([`${w.fake.roles.get(ROLES.sameAccount)!.roleId}:${name}`])
  })

  it("re-reads the broker's key after the secret rotates", async () => {
    w.fake.addUser(BROKER_ARN, 'AKIAAIRLOCKBROKER002', 'second-secret-value')
    writeFileSync(
      w.keyFile,
      JSON.stringify({ access_key_id: 'AKIAAIRLOCKBROKER002', secret_access_key: 'second-secret-value' }),
    )
    await api.issue('build-bot', { provider: 'aws-main' })
    expect(lastAssume().accessKeyId).toBe(BROKER_AKID) // cached until told
    await t.broker.runtime().providers.get('aws-main')!.secretRotated(`file:${w.keyFile}`)
    await api.issue('build-bot', { provider: 'aws-main' })
    expect(lastAssume().accessKeyId).toBe('AKIAAIRLOCKBROKER002')
    expect(lastAssume().status).toBe(200)
  })

  it('builds its clients again when AWS says the broker key is expired, without being told', async () => {
    w.fake.addUser(BROKER_ARN, 'AKIAAIRLOCKBROKER003', 'third-secret-value')
    writeFileSync(
      w.keyFile,
      JSON.stringify({ access_key_id: 'AKIAAIRLOCKBROKER003', secret_access_key: 'third-secret-value' }),
    )
    w.fake.fail('AssumeRole', {
      status: 403,
      code: 'ExpiredToken',
      message: 'The security token included in the request is expired',
    })
    const failed = await api.post('/v1/sessions', 'build-bot', sessionBody({ provider: 'aws-main' }))
    expect(failed.status).toBe(503)
    expect(failed.body.message).toMatch(/ExpiredToken/)
    await api.issue('build-bot', { provider: 'aws-main' })
    expect(lastAssume()).toMatchObject({ accessKeyId: 'AKIAAIRLOCKBROKER003', status: 200 })
  })
})

describe('aws: ambient credentials', () => {
  it("with `credentials: ambient` the SDK's default chain signs (here: the environment variables)", async () => {
    const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] }
    process.env['AWS_ACCESS_KEY_ID'] = BROKER_AKID
    process.env['AWS_SECRET_ACCESS_KEY'] = CANARY_AWS_SECRET
    const validated = awsProvider.validate(
      {
        region: 'eu-west-1',
        credentials: 'ambient',
        sts_endpoint: w.fake.url,
        iam_endpoint: w.fake.url,
        environments: { staging: { role_arn: ROLES.sameAccount } },
        operation_classes: { read: { actions: ACTIONS.read } },
      },
      { name: 'aws-ambient', environments: ['staging'], operationClasses: ['read'], destructiveClasses: [] },
    )
    if (!validated.ok) throw new Error(JSON.stringify(validated.problems))
    const provider = awsProvider.create(validated.config, {
      name: 'aws-ambient',
      instanceId: 'test',
      secrets: createSecretSource({ baseDir: process.cwd(), env: {}, vault: null }),
      log: createLogger({ level: 'silent' }),
      clock: { now: () => Date.now() },
      state: memoryProviderState()('aws-ambient'),
      onMassRevocation: async () => [],
    })
    try {
      const calls = w.fake.callsOf('GetCallerIdentity').length
      expect(await provider.health()).toEqual({ ok: true, error: null })
      const call = w.fake.callsOf('GetCallerIdentity')[calls]!
      expect(call.accessKeyId).toBe(BROKER_AKID)
      expect(call.status).toBe(200)
    } finally {
      await provider.close()
      for (const [k, v] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    }
  })
})
