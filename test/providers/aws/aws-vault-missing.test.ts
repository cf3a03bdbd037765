// A provider whose vault secret is missing or cannot be opened answers 503 naming the path and
// shows unhealthy in GET /v1/providers; the other providers and /readyz are untouched; writing the
// secret brings it back without a restart.
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisKeys } from '../../../src/store/keys.js'
import { client, sessionBody, testBroker, type TestBroker } from '../../helper.js'
import { awsWorld, BROKER_AKID, CANARY_AWS_SECRET, type AwsWorld } from '../../support/aws-setup.js'
import { arrives } from '../../support/bounded.js'

const PATH = 'aws/missing'
const KEY_JSON = JSON.stringify({ access_key_id: BROKER_AKID, secret_access_key: CANARY_AWS_SECRET })

let w: AwsWorld
let t: TestBroker
let api: ReturnType<typeof client>
let redis: Redis
const responses: string[] = []

beforeAll(async () => {
  w = await awsWorld()
  const providers = w.providerYaml().replace(`credentials: file:${w.keyFile}`, `credentials: vault:${PATH}`)
  t = await testBroker({ masterKey: randomBytes(32), yaml: { providers } })
  api = client(t.app, t.keys)
  redis = new Redis(t.redisUrl)
  t.app.addHook('onSend', async (_req, _reply, payload) => {
    responses.push(typeof payload === 'string' ? payload : String(payload))
    return payload
  })
})
afterAll(async () => {
  redis.disconnect()
  await t.close()
  await w.close()
})

const vaultChange = (path: string) =>
  new Promise<void>((resolve) => t.app.broker.vault!.onChange((p) => p === path && resolve()))

/** A vault write or delete over the API, then the change notification coming back to this broker. */
async function vaultCall(method: 'PUT' | 'DELETE', value?: string) {
  const heard = vaultChange(PATH)
  const r = await t.app.inject({
    method,
    url: `/v1/vault/${PATH}`,
    headers: t.as('ops'),
    ...(value !== undefined && { payload: { value } }),
  })
  expect(r.statusCode, r.body).toBe(204)
  await arrives(heard, "the vault's change notification")
}

const request = (task: string) =>
  api.post('/v1/sessions', 'build-bot', sessionBody({ provider: 'aws-main', task: { id: task } }))
const providers = async () =>
  Object.fromEntries(
    (
      (await api.get('/v1/providers', 'ops')).body.providers as { name: string; ok: boolean; error: string }[]
    ).map((p) => [p.name, { ok: p.ok, error: p.error }]),
  )
const ready = async () => (await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode

/** The provider is out of service because of its secret, and nothing else is. */
async function expectBroken(why: RegExp) {
  const r = await request('MISSING-1')
  expect(r.status).toBe(503)
  expect(r.body.error).toBe('unavailable')
  expect(r.body.message).toContain(PATH)
  expect(r.body.message).toMatch(why)
  const p = await providers()
  expect(p['aws-main']!.ok).toBe(false)
  expect(p['aws-main']!.error).toContain(PATH)
  expect(p['aws-main']!.error).toMatch(why)
  expect(p['internal-api']).toEqual({ ok: true, error: null })
  expect((await api.issue('build-bot', { provider: 'internal-api' })).session.status).toBe('active')
  expect(await ready()).toBe(200)
}

async function expectWorking() {
  const healthy = { 'aws-main': { ok: true, error: null }, 'internal-api': { ok: true, error: null } }
  // Healthy as soon as the secret is back, before any request used it.
  expect(await providers()).toMatchObject(healthy)
  const r = await request('MISSING-OK')
  expect(r.status, JSON.stringify(r.body)).toBe(201)
  expect(r.body.grant.credentials.access_key_id).toMatch(/^ASIA/)
  expect(await providers()).toMatchObject(healthy)
  expect(await ready()).toBe(200)
}

/** Rewrites the stored record behind the vault's back (no change notification). */
async function corrupt(change: (json: string) => string) {
  const k = redisKeys(t.prefix)
  const json = await redis.hget(k.vault, PATH)
  expect(json).not.toBeNull()
  await redis.hset(k.vault, PATH, change(json as string))
}

describe('aws provider with its vault secret missing or undecryptable', () => {
  it('missing: 503 naming the path, unhealthy in /v1/providers, /readyz stays ready; a PUT brings it back', async () => {
    await expectBroken(/does not exist/)
    await vaultCall('PUT', KEY_JSON)
    await expectWorking()
    // Deleted again: out of service again, at once.
    await vaultCall('DELETE')
    await expectBroken(/does not exist/)
  })

  it('a sealed record that does not open (tampered): 503 naming the path; a new PUT brings it back', async () => {
    await vaultCall('PUT', KEY_JSON)
    await corrupt((json) => {
      const rec = JSON.parse(json) as { ct: string }
      const ct = Buffer.from(rec.ct, 'base64')
      ct[0] = (ct[0] as number) ^ 1
      return JSON.stringify({ ...rec, ct: ct.toString('base64') })
    })
    await expectBroken(/cannot be opened/)
    await vaultCall('PUT', KEY_JSON)
    await expectWorking()
  })

  it('a record that is not a sealed record at all: 503 naming the path; it shows in the list, and a PUT repairs it', async () => {
    await vaultCall('PUT', KEY_JSON)
    await corrupt(() => 'not a sealed record')
    await expectBroken(/corrupt/)
    const list = await t.app.inject({ method: 'GET', url: '/v1/vault', headers: t.as('ops') })
    expect(list.statusCode).toBe(200)
    expect(list.json().secrets).toContainEqual(
      expect.objectContaining({ path: PATH, updated_by: '(corrupt record)' }),
    )
    const over = await t.app.inject({
      method: 'PUT',
      url: `/v1/vault/${PATH}`,
      headers: t.as('ops'),
      payload: { value: KEY_JSON },
    })
    expect(over.statusCode).toBe(204)
    await expectWorking()
  })

  it('a blank secret, or one with an empty key field: 503 naming the path, never used as a key', async () => {
    await vaultCall('PUT', ' \n')
    await expectBroken(/is empty/)
    await vaultCall('PUT', JSON.stringify({ access_key_id: BROKER_AKID, secret_access_key: '' }))
    await expectBroken(/has an empty secret_access_key/)
    await vaultCall('PUT', KEY_JSON)
    await expectWorking()
  })

  it('no secret reached any response, log line or audit event', () => {
    const everything = [...responses, ...t.logs.lines, ...t.audit].join('\n')
    expect(responses.length).toBeGreaterThan(15)
    expect(everything).not.toContain(CANARY_AWS_SECRET)
    expect(everything).not.toContain('CANARY')
  })
})
