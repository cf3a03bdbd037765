// Agents authenticating with an OIDC workload JWT (e.g. a CI job's token), verified against a
// local issuer that serves a real discovery document and JWKS over HTTP.
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose'
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, sessionBody, testBroker, type TestBroker } from '../helper.js'

let issuerUrl = ''
/** Nothing listens on port 2: discovery fails to connect. */
const DEAD_ISSUER = 'http://127.0.0.1:2'
let server: Server
let key: CryptoKey
let jwksHits = 0
let t: TestBroker

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true })
  key = pair.privateKey
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'ci-1', alg: 'ES256', use: 'sig' }
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json')
    if (req.url === '/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer: issuerUrl, jwks_uri: `${issuerUrl}/jwks` }))
    } else if (req.url === '/jwks') {
      jwksHits++
      res.end(JSON.stringify({ keys: [jwk] }))
    } else {
      res.statusCode = 404
      res.end('{}')
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  issuerUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  t = await testBroker({
    yaml: {
      extraAgents: [
        `  - { id: deploy-bot, owner: bob, oidc: { issuer: "${issuerUrl}", audience: airlock, subject: "repo:acme/app:ref:refs/heads/main" } }`,
        `  - { id: stranded-bot, owner: bob, oidc: { issuer: "${DEAD_ISSUER}", audience: airlock, subject: "stranded" } }`,
        `  - { id: nightly-bot, owner: bob, oidc: { issuer: "${issuerUrl}", audience: airlock, subject: "nightly", max_lifetime: 24h } }`,
      ].join('\n'),
    },
  })
})
afterAll(async () => {
  await t.close()
  server.close()
})

const workloadJwt = (
  over: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  signWith?: CryptoKey,
) => {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({
    iss: issuerUrl,
    aud: 'airlock',
    sub: 'repo:acme/app:ref:refs/heads/main',
    iat: now,
    exp: now + 300,
    ...over,
  })
    .setProtectedHeader({ alg: 'ES256', kid: 'ci-1', ...header } as never)
    .sign(signWith ?? key)
}

const requestWith = (jwt: string) =>
  t.app.inject({
    method: 'POST',
    url: '/v1/sessions',
    headers: { authorization: `Bearer ${jwt}` },
    payload: sessionBody(),
  })

describe('OIDC workload identity for agents', () => {
  it('a valid workload JWT authenticates as the bound agent', async () => {
    const r = await requestWith(await workloadJwt())
    expect(r.statusCode, r.body).toBe(201)
    expect(r.json().session.agent).toBe('deploy-bot')
    expect(jwksHits).toBe(1)
    // The JWKS is fetched once and the verified token cached, not fetched per request.
    expect((await requestWith(await workloadJwt())).statusCode).toBe(201)
    expect(jwksHits).toBe(1)
  })

  it.each([
    ['wrong audience', { aud: 'someone-else' }],
    ['wrong subject', { sub: 'repo:acme/app:ref:refs/heads/feature' }],
    ['wrong issuer', { iss: 'http://127.0.0.1:1' }],
    ['expired', { exp: Math.floor(Date.now() / 1000) - 60, iat: Math.floor(Date.now() / 1000) - 400 }],
  ])('%s is 401', async (_n, over) => {
    const r = await requestWith(await workloadJwt(over))
    expect(r.statusCode).toBe(401)
    expect(r.json().error).toBe('unauthenticated')
  })

  it('a configured issuer that cannot be reached is 503 unavailable, not a bad credential', async () => {
    const r = await requestWith(await workloadJwt({ iss: DEAD_ISSUER, sub: 'stranded' }))
    expect(r.statusCode).toBe(503)
    expect(r.json()).toMatchObject({
      error: 'unavailable',
      message: expect.stringMatching(/OIDC issuer .* cannot be reached/),
    })
  })

  it('a token signed by another key is 401', async () => {
    const other = await generateKeyPair('ES256')
    expect((await requestWith(await workloadJwt({}, {}, other.privateKey))).statusCode).toBe(401)
  })

  it('alg none is 401', async () => {
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const now = Math.floor(Date.now() / 1000)
    const jwt = `${enc({ alg: 'none' })}.${enc({ iss: issuerUrl, aud: 'airlock', sub: 'repo:acme/app:ref:refs/heads/main', exp: now + 60 })}.`
    expect((await requestWith(jwt)).statusCode).toBe(401)
  })

  it('the workload identity acts only as its agent', async () => {
    const api = client(t.app, t.keys)
    const other = await api.issue('build-bot')
    const jwt = await workloadJwt()
    const r = await t.app.inject({
      method: 'GET',
      url: `/v1/sessions/${other.session.id}`,
      headers: { authorization: `Bearer ${jwt}` },
    })
    expect(r.statusCode).toBe(404)
  })
})

describe('OIDC token lifetime (exp - iat, max_lifetime, default 1h)', () => {
  const now = () => Math.floor(Date.now() / 1000)
  const YEAR = 365 * 86_400

  it('a real token expiring in ten years is refused, as is one without iat or minted in the future', async () => {
    const tenYears = await workloadJwt({ iat: now(), exp: now() + 10 * YEAR })
    const r = await requestWith(tenYears)
    expect(r.statusCode).toBe(401)
    expect(r.json().error).toBe('unauthenticated')
    // Refused again on the next call: nothing of the first attempt was cached.
    expect((await requestWith(tenYears)).statusCode).toBe(401)

    const noIat = await workloadJwt({ iat: undefined, exp: now() + 300 })
    expect((await requestWith(noIat)).statusCode).toBe(401)
    // iat in the future would stretch the window: exp - iat is 30m, but the token lives 10 years.
    const future = await workloadJwt({ iat: now() + 10 * YEAR - 1800, exp: now() + 10 * YEAR })
    expect((await requestWith(future)).statusCode).toBe(401)
    // A backdated iat does not help either: exp - iat counts, not exp - now.
    const backdated = await workloadJwt({ iat: now() - 3 * 3600, exp: now() + 300 })
    expect((await requestWith(backdated)).statusCode).toBe(401)
  })

  it('up to an hour is accepted by default; a binding with max_lifetime: 24h takes a day', async () => {
    expect((await requestWith(await workloadJwt({ iat: now(), exp: now() + 3600 }))).statusCode).toBe(201)
    expect((await requestWith(await workloadJwt({ iat: now(), exp: now() + 3601 }))).statusCode).toBe(401)
    const day = { sub: 'nightly', iat: now(), exp: now() + 86_400 }
    const r = await requestWith(await workloadJwt(day))
    expect(r.statusCode, r.body).toBe(201)
    expect(r.json().session.agent).toBe('nightly-bot')
    expect((await requestWith(await workloadJwt({ ...day, exp: now() + 86_401 }))).statusCode).toBe(401)
  })
})
