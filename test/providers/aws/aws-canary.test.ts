// The broker's AWS secret key (a canary, behind a file: reference) never appears in any response,
// log line or audit event, across successes and failures; issued session secrets are not stored.
import { writeFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisKeys } from '../../../src/store/keys.js'
import {
  captureResponses,
  client,
  sessionBody,
  testBroker,
  type TestBroker,
  TestClock,
} from '../../helper.js'
import { awsWorld, CANARY_AWS_SECRET, type AwsWorld } from '../../support/aws-setup.js'
import { SERVICE_UNAVAILABLE, THROTTLING } from '../../support/fake-aws.js'

const CANARY_IN_BROKEN_FILE = 'CANARYbroken7e1d0c9b'
const clock = new TestClock()
let w: AwsWorld
let t: TestBroker
const responses: string[] = []

beforeAll(async () => {
  w = await awsWorld({ now: () => clock.now() })
  const broken = join(dirname(w.keyFile), 'broken.json')
  writeFileSync(broken, `{"access_key_id": "AKIA2", "secret_access_key": "${CANARY_IN_BROKEN_FILE}"`)
  const badKey = w
    .providerYaml({ name: 'aws-badkey', extra: '    deny_policy_name: airlock-badkey-revoked' })
    .replace(`credentials: file:${w.keyFile}`, `credentials: file:${broken}`)
  t = await testBroker({ clock, yaml: { providers: w.providerYaml() + badKey } })
  captureResponses(t.app, responses)
})
afterAll(async () => {
  await t.close()
  await w.close()
})

describe('aws canary secrets', () => {
  it('appear in no response, log line or audit event; issued secrets are not stored', async () => {
    const api = client(t.app, t.keys)
    const body = (over: Record<string, unknown> = {}) => sessionBody({ provider: 'aws-main', ...over })
    const ok = await api.issue('build-bot', { provider: 'aws-main' })
    w.fake.fail('AssumeRole', THROTTLING)
    const short = await api.issue('build-bot', { provider: 'aws-main', ttl_seconds: 60 })
    w.fake.fail('AssumeRole', { status: 403, code: 'AccessDenied', message: 'not authorized' })
    expect((await api.post('/v1/sessions', 'build-bot', body())).status).toBe(503)
    // The signature no longer matches (AWS's message quotes the string to sign, never the key).
    const broker = w.fake.identities.get('AKIAAIRLOCKBROKER001')!
    broker.secretAccessKey = 'rotated-at-aws'
    expect((await api.post('/v1/sessions', 'build-bot', body())).status).toBe(503)
    broker.secretAccessKey = CANARY_AWS_SECRET
    // A broken secret file: the error names the reference, never the content.
    const bad = await api.post('/v1/sessions', 'build-bot', body({ provider: 'aws-badkey' }))
    expect(bad.status).toBe(503)
    expect(bad.body.message).toContain('broken.json')
    await api.get('/v1/providers', 'ops')

    await api.del(`/v1/sessions/${ok.session.id}`, 'ops')
    w.fake.fail(
      'PutRolePolicy',
      SERVICE_UNAVAILABLE,
      SERVICE_UNAVAILABLE,
      SERVICE_UNAVAILABLE,
      SERVICE_UNAVAILABLE,
    )
    await api.del(`/v1/sessions/${short.session.id}`, 'build-bot') // fails at IAM, queued
    clock.advance(5 * 60_000)
    await t.broker.sweepOnce() // retried, expired, reaped
    expect(await t.broker.revocations.size()).toBe(0)
    await api.get('/v1/audit?limit=1000', 'ops')
    await t.app.inject({ method: 'GET', url: '/metrics' })

    const everything = [...responses, ...t.logs.lines, ...t.audit].join('\n')
    expect(t.logs.lines.length).toBeGreaterThan(3)
    for (const canary of [CANARY_AWS_SECRET, CANARY_IN_BROKEN_FILE, 'CANARY']) {
      const at = everything.indexOf(canary)
      expect(at, everything.slice(Math.max(0, at - 300), at + 100)).toBe(-1)
    }

    // Nothing secret in the store either: not the broker's key, not the agents' session secrets.
    const redis = new Redis(t.redisUrl)
    try {
      let stored = ''
      for (const key of await redis.keys(redisKeys(t.prefix).pattern)) {
        const type = await redis.type(key)
        if (type === 'string') stored += await redis.get(key)
        else if (type === 'hash') stored += JSON.stringify(await redis.hgetall(key))
        else if (type === 'zset') stored += JSON.stringify(await redis.zrange(key, 0, -1))
        else if (type === 'stream') stored += JSON.stringify(await redis.xrange(key, '-', '+'))
      }
      expect(stored.length).toBeGreaterThan(1000)
      for (const secret of [
        CANARY_AWS_SECRET,
        (ok.grant as any).credentials.secret_access_key,
        (ok.grant as any).credentials.session_token,
        (short.grant as any).credentials.secret_access_key,
      ]) {
        expect(stored).not.toContain(secret)
      }
    } finally {
      redis.disconnect()
    }
  })
})
