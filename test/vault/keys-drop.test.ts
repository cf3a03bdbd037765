// `airlock keys rotate --drop-previous` (POST /v1/keys/rotate {drop_previous: true}), for a signing
// key that may have leaked: every earlier key is dropped instead of retired, so tokens it signed
// stop verifying at once on every replica and it leaves the JWKS; sessions issued after work.
// Also: a rotation without a body still retires, and a verification in flight when the keys change
// is not remembered under the old key.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { TestClock } from '../helper.js'
import { client, testBroker, type TestBroker } from '../helper.js'
import { generateSigningKey } from '../../src/tokens/keys.js'
import { createTokenService } from '../../src/tokens/tokens.js'

let a: TestBroker
let b: TestBroker

beforeAll(async () => {
  const masterKey = randomBytes(32)
  a = await testBroker({ masterKey })
  b = await testBroker({ masterKey, prefix: a.prefix, keys: a.keys })
}, 30_000)

afterAll(async () => {
  await b?.broker.close()
  await a?.close()
})

const kids = async (t: TestBroker) =>
  (await client(t.app, t.keys).get('/.well-known/jwks.json', null)).body.keys.map(
    (k: { kid: string }) => k.kid,
  )
const active = async (t: TestBroker, token: string) =>
  (await client(t.app, t.keys).post('/v1/introspect', 'internal-api', { token })).body.active as boolean

describe('keys rotate, dropping the earlier keys', () => {
  it('a rotation without a body retires the old key: its tokens still verify', async () => {
    const before = await client(a.app, a.keys).issue('build-bot')
    const old = a.app.broker.tokens.activeKey().kid
    const r = await a.app.inject({ method: 'POST', url: '/v1/keys/rotate', headers: a.as('ops') })
    expect(r.statusCode).toBe(200)
    expect(r.json()).toMatchObject({ previous: old, dropped: [] })
    expect(await active(a, before.grant.token)).toBe(true)
    expect((await kids(a)).sort()).toEqual([old, r.json().kid].sort())
  })

  it('drop_previous: old tokens stop verifying at once here and on the other replica; new ones work', async () => {
    const before = await client(b.app, b.keys).issue('build-bot')
    const previous = a.app.broker.tokens.activeKey().kid
    const r = await client(a.app, a.keys).post('/v1/keys/rotate', 'ops', { drop_previous: true })
    expect(r.status).toBe(200)
    const { kid, dropped } = r.body as { kid: string; dropped: string[] }
    // The key retired by the first test is dropped too: every earlier key.
    expect(dropped).toContain(previous)
    expect(dropped).toHaveLength(2)
    expect(await active(a, before.grant.token)).toBe(false)
    expect(await kids(a)).toEqual([kid])
    await vi.waitFor(() => expect(b.app.broker.tokens.activeKey().kid).toBe(kid), {
      timeout: 5000,
      interval: 20,
    })
    expect(await active(b, before.grant.token)).toBe(false)
    expect(await kids(b)).toEqual([kid])
    const after = await client(b.app, b.keys).issue('build-bot')
    expect(await active(a, after.grant.token)).toBe(true)
    const e = a.audit
      .map((l) => JSON.parse(l))
      .find((x) => x.type === 'keys.rotated' && x.details.dropped.length > 0)
    expect(e).toMatchObject({ actor: 'ops', details: { kid, dropped, scheduled: false } })
  })

  it('a drop_previous that is not a boolean is a 400 naming it, and rotates nothing', async () => {
    const kid = a.app.broker.tokens.activeKey().kid
    const r = await client(a.app, a.keys).post('/v1/keys/rotate', 'ops', { drop_previous: 'yes' })
    expect(r.status).toBe(400)
    expect(r.body.error).toBe('invalid_request')
    expect(r.body.message).toContain('drop_previous')
    expect(a.app.broker.tokens.activeKey().kid).toBe(kid)
  })
})

describe('a verification in flight when the keys change', () => {
  it('is not remembered: the dropped key verifies nothing afterwards', async () => {
    const clock = new TestClock()
    const oldKey = await generateSigningKey('EdDSA')
    const newKey = await generateSigningKey('EdDSA')
    const svc = createTokenService({ issuer: 'http://airlock.test', clock, active: oldKey })
    try {
      const now = Math.floor(clock.now() / 1000)
      const token = await svc.sign({
        sub: 'build-bot',
        client_id: 'build-bot',
        aud: 'internal-api',
        iat: now,
        nbf: now,
        exp: now + 600,
        jti: 'j1',
        sid: 'ses_1',
        env: 'staging',
        op: 'read',
        provider: 'internal-api',
        task: 't1',
      })
      const inFlight = svc.verify(token)
      svc.setKeys(newKey, [])
      expect(await inFlight).toBeNull()
      expect(await svc.verify(token)).toBeNull()
    } finally {
      await svc.close()
    }
  })
})
