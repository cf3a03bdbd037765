// Session token checks: every forged, altered or out-of-lifetime token introspects inactive.
import { SignJWT, base64url, generateKeyPair } from 'jose'
import { createHmac, KeyObject, sign, type webcrypto } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSigningKey } from '../../src/tokens/keys.js'
import { client, TestClock, testBroker, type TestBroker } from '../helper.js'

let t: TestBroker
let api: ReturnType<typeof client>
const clock = new TestClock()
let good: { session: Record<string, any>; grant: { token: string } }

beforeAll(async () => {
  t = await testBroker({ clock })
  api = client(t.app, t.keys)
  good = await api.issue('build-bot')
})
afterAll(async () => t.close())

const introspect = async (token: string, who = 'internal-api') =>
  (await api.post('/v1/introspect', who, { token })).body

const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString())

/** Signs `claims` with the broker's own key, so only the altered part can make it fail. */
const forge = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', kid: t.signingKey.kid, typ: 'at+jwt', ...header } as never)
    .sign(t.signingKey.privateKey)

describe('session tokens', () => {
  it('the genuine token is active, and shaped as RFC 9068 says', async () => {
    expect(await introspect(good.grant.token)).toMatchObject({ active: true, sid: good.session.id })
    const header = JSON.parse(Buffer.from(good.grant.token.split('.')[0] as string, 'base64url').toString())
    expect(header).toEqual({ alg: 'EdDSA', kid: t.signingKey.kid, typ: 'at+jwt' })
    const c = claimsOf(good.grant.token)
    expect(c).toMatchObject({
      iss: 'http://airlock.test',
      sub: 'build-bot',
      client_id: 'build-bot',
      aud: 'https://api.internal.example',
    })
    expect(c.exp - c.iat).toBe(good.session.ttl_seconds)
    expect(c.nbf).toBe(c.iat)
  })

  it('a re-signed copy of the genuine claims is active (the forging helper itself is sound)', async () => {
    expect((await introspect(await forge(claimsOf(good.grant.token)))).active).toBe(true)
  })

  const cases: [string, () => Promise<string>][] = [
    ['wrong iss', () => forge({ ...claimsOf(good.grant.token), iss: 'https://evil.example' })],
    ['wrong aud', () => forge({ ...claimsOf(good.grant.token), aud: 'https://other.example' })],
    [
      'not yet valid',
      () => forge({ ...claimsOf(good.grant.token), nbf: Math.floor(clock.now() / 1000) + 600 }),
    ],
    [
      'already expired',
      () => forge({ ...claimsOf(good.grant.token), exp: Math.floor(clock.now() / 1000) - 1 }),
    ],
    ['another jti for the session', () => forge({ ...claimsOf(good.grant.token), jti: 'someotherjti' })],
    ['wrong typ', () => forge(claimsOf(good.grant.token), { typ: 'JWT' })],
    [
      'an extension in crit that is not understood',
      async () => {
        // Signed by hand: jose itself refuses to sign a header it would not understand.
        const head = { alg: 'EdDSA', kid: t.signingKey.kid, typ: 'at+jwt', crit: ['x-bind'], 'x-bind': 1 }
        const input = `${base64url.encode(JSON.stringify(head))}.${good.grant.token.split('.')[1]}`
        const key = KeyObject.from(t.signingKey.privateKey as unknown as webcrypto.CryptoKey)
        return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`
      },
    ],
    [
      'alg none',
      async () => {
        const h = base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: t.signingKey.kid }))
        return `${h}.${good.grant.token.split('.')[1]}.`
      },
    ],
    [
      'HS256 with the public key as the secret',
      async () => {
        const h = base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid: t.signingKey.kid }))
        const body = good.grant.token.split('.')[1] as string
        const secret = JSON.stringify(t.signingKey.publicJwk)
        const sig = createHmac('sha256', secret).update(`${h}.${body}`).digest('base64url')
        return `${h}.${body}.${sig}`
      },
    ],
    [
      'unknown kid (another key)',
      async () => {
        const { privateKey } = await generateKeyPair('EdDSA')
        return new SignJWT(claimsOf(good.grant.token))
          .setProtectedHeader({ alg: 'EdDSA', kid: 'not-ours', typ: 'at+jwt' })
          .sign(privateKey)
      },
    ],
    [
      'our kid, another key',
      async () => {
        const { privateKey } = await generateKeyPair('EdDSA')
        return new SignJWT(claimsOf(good.grant.token))
          .setProtectedHeader({ alg: 'EdDSA', kid: t.signingKey.kid, typ: 'at+jwt' })
          .sign(privateKey)
      },
    ],
    [
      'tampered payload (env changed, signature kept)',
      async () => {
        const [h, , s] = good.grant.token.split('.')
        const body = base64url.encode(JSON.stringify({ ...claimsOf(good.grant.token), env: 'prod' }))
        return `${h}.${body}.${s}`
      },
    ],
    [
      'tampered signature',
      async () => {
        const [h, b, s] = good.grant.token.split('.') as [string, string, string]
        const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1)
        return `${h}.${b}.${flipped}`
      },
    ],
  ]

  it.each(cases)('%s is inactive', async (_name, make) => {
    const token = await make()
    expect(await introspect(token)).toEqual({ active: false })
    expect(await introspect(token, 'ops')).toEqual({ active: false })
  })

  it('the same HS256 forgery with the raw key bytes is also inactive', async () => {
    const h = base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid: t.signingKey.kid }))
    const body = good.grant.token.split('.')[1] as string
    const sig = createHmac('sha256', Buffer.from(t.signingKey.publicJwk.x as string, 'base64url'))
      .update(`${h}.${body}`)
      .digest('base64url')
    expect(await introspect(`${h}.${body}.${sig}`)).toEqual({ active: false })
  })

  it('a token from a replica whose clock is a few seconds ahead is active at once', async () => {
    const now = Math.floor(clock.now() / 1000)
    const ahead = await forge({ ...claimsOf(good.grant.token), iat: now + 3, nbf: now + 3 })
    expect((await introspect(ahead)).active).toBe(true)
    // The allowance is for clocks, not for tokens dated in the future.
    const later = await forge({ ...claimsOf(good.grant.token), iat: now + 120, nbf: now + 120 })
    expect(await introspect(later)).toEqual({ active: false })
  })

  it('a token past its exp is inactive at once, with no allowance for skew', async () => {
    const s = await api.issue('build-bot', { ttl_seconds: 60 })
    const { exp } = claimsOf(s.grant.token)
    const before = clock.ms
    clock.ms = exp * 1000
    expect(await introspect(s.grant.token)).toEqual({ active: false })
    clock.ms = before
  })

  it('a token whose key is removed is inactive at once, even while the cache holds it', async () => {
    const tokens = t.app.broker.tokens
    const s = await api.issue('build-bot')
    expect((await introspect(s.grant.token)).active).toBe(true)
    const other = await generateSigningKey('EdDSA')
    tokens.setKeys(other, [])
    try {
      expect(await introspect(s.grant.token)).toEqual({ active: false })
      const { keys } = (await api.get('/.well-known/jwks.json', 'ops')).body
      expect(keys.map((k: { kid: string }) => k.kid)).toEqual([other.kid])
    } finally {
      tokens.setKeys(t.signingKey, [])
    }
    expect((await introspect(s.grant.token)).active).toBe(true)
  })

  it('the JWKS publishes public parts only, retired keys until their window ends', async () => {
    const tokens = t.app.broker.tokens
    const next = await generateSigningKey('EdDSA')
    tokens.setKeys(next, [{ ...t.signingKey, notAfter: clock.now() + 1000 }])
    try {
      const jwks = async () => (await api.get('/.well-known/jwks.json', 'ops')).body.keys
      const both = await jwks()
      expect(both.map((k: { kid: string }) => k.kid)).toEqual([next.kid, t.signingKey.kid])
      for (const k of both) expect(Object.keys(k).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x'])
      clock.advance(1000)
      expect((await jwks()).map((k: { kid: string }) => k.kid)).toEqual([next.kid])
      expect(await introspect(good.grant.token)).toEqual({ active: false })
    } finally {
      clock.advance(-1000)
      tokens.setKeys(t.signingKey, [])
    }
  })

  it('a token past its exp is inactive even while the cache holds it', async () => {
    const s = await api.issue('build-bot', { ttl_seconds: 60 })
    expect((await introspect(s.grant.token)).active).toBe(true)
    clock.advance(61_000)
    expect(await introspect(s.grant.token)).toEqual({ active: false })
    expect((await api.get(`/v1/sessions/${s.session.id}`, 'ops')).body.status).toBe('expired')
    clock.advance(-61_000)
  })
})

describe('ES256 session tokens', () => {
  it('a broker configured for ES256 signs with a P-256 key, publishes it, and introspects its tokens', async () => {
    const { generateKeyPairSync } = await import('node:crypto')
    const { loadSigningKey } = await import('../../src/tokens/keys.js')
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString()
    const es = await testBroker({ signingKey: await loadSigningKey(pem, 'ES256') })
    try {
      const esApi = client(es.app, es.keys)
      const s = await esApi.issue('build-bot')
      const header = JSON.parse(Buffer.from(s.grant.token.split('.')[0] as string, 'base64url').toString())
      expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' })
      expect((await esApi.get('/.well-known/jwks.json', null)).body.keys[0]).toMatchObject({
        kty: 'EC',
        crv: 'P-256',
        alg: 'ES256',
      })
      expect((await esApi.post('/v1/introspect', 'internal-api', { token: s.grant.token })).body.active).toBe(
        true,
      )
      // The EdDSA broker's tokens mean nothing here, and the other way round.
      expect((await esApi.post('/v1/introspect', 'ops', { token: good.grant.token })).body).toEqual({
        active: false,
      })
    } finally {
      await es.close()
    }
  })

  it('a key that does not fit the algorithm is refused without echoing it', async () => {
    const { generateKeyPairSync } = await import('node:crypto')
    const { loadSigningKey } = await import('../../src/tokens/keys.js')
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    const body = pem.split('\n')[1] as string
    const e = await loadSigningKey(pem, 'ES256').catch((x: Error) => x)
    expect(String(e)).toMatch(/tokens.signing_key: not a usable ES256 private key/)
    expect(String(e)).not.toContain(body)
  })
})
