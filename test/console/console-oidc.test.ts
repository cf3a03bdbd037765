// The console's OIDC relying party against a scripted provider: PKCE and the authorization URL,
// client_secret_basic or client_secret_post as discovery says, and the ID token checks.
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose'
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/clock.js'
import { oidcClient, ProviderUnavailable, SignInFailed } from '../../src/console/oidc.js'

let server: Server
let issuer = ''
let key: CryptoKey
let discovery: Record<string, unknown> = {}
let tokenAnswer: { status: number; body: unknown } = { status: 200, body: {} }
let tokenRequests: { headers: IncomingMessage['headers']; body: URLSearchParams }[] = []

const CLIENT = 'airlock console'
const SECRET = 's3cret:+/ x'
const REDIRECT = 'https://airlock.example.com/console/callback'

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true })
  key = pair.privateKey
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      if (req.url === '/.well-known/openid-configuration') return res.end(JSON.stringify(discovery))
      if (req.url === '/jwks') return res.end(JSON.stringify({ keys: [jwk] }))
      if (req.url === '/token') {
        tokenRequests.push({ headers: req.headers, body: new URLSearchParams(body) })
        res.statusCode = tokenAnswer.status
        return res.end(JSON.stringify(tokenAnswer.body))
      }
      res.statusCode = 404
      res.end('{}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`
})
afterAll(() => {
  server.close()
})
beforeEach(() => {
  tokenRequests = []
  discovery = {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    id_token_signing_alg_values_supported: ['ES256', 'RS256'],
    code_challenge_methods_supported: ['S256'],
  }
})

const client = () =>
  oidcClient(
    { issuer, clientId: CLIENT, clientSecretRef: 'env:X', scopes: ['openid', 'email'] },
    { clock: systemClock, secret: async () => SECRET },
  )

const idToken = (over: Record<string, unknown> = {}, header: Record<string, unknown> = {}) => {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({
    iss: issuer,
    aud: CLIENT,
    sub: 'u-1',
    email: 'carol@example.com',
    email_verified: true,
    nonce: 'n-1',
    iat: now,
    exp: now + 300,
    ...over,
  })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', ...header } as never)
    .sign(key)
}

const exchange = (c = client()) =>
  c.exchange({ code: 'c-1', verifier: 'v'.repeat(43), nonce: 'n-1', redirectUri: REDIRECT })

describe('the authorization request', () => {
  it('carries PKCE S256, state, nonce, scopes and the redirect URI', async () => {
    const url = new URL(
      await client().authorizationUrl({
        state: 's-1',
        nonce: 'n-1',
        verifier: 'v'.repeat(43),
        redirectUri: REDIRECT,
      }),
    )
    expect(url.origin + url.pathname).toBe(`${issuer}/authorize`)
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: CLIENT,
      redirect_uri: REDIRECT,
      scope: 'openid email',
      state: 's-1',
      nonce: 'n-1',
      code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'),
      code_challenge_method: 'S256',
    })
  })

  it('refuses a discovery document naming another issuer, or a provider without S256', async () => {
    discovery['issuer'] = 'https://evil.example.com'
    await expect(
      client().authorizationUrl({ state: 's', nonce: 'n', verifier: 'v', redirectUri: REDIRECT }),
    ).rejects.toThrow(ProviderUnavailable)
    discovery['issuer'] = issuer
    discovery['code_challenge_methods_supported'] = ['plain']
    await expect(
      client().authorizationUrl({ state: 's', nonce: 'n', verifier: 'v', redirectUri: REDIRECT }),
    ).rejects.toThrow(/PKCE with S256/)
  })

  it('refuses endpoints over plain http away from this machine (the client secret would travel in clear)', async () => {
    discovery['token_endpoint'] = 'http://idp.example.com/token'
    await expect(
      client().authorizationUrl({ state: 's', nonce: 'n', verifier: 'v', redirectUri: REDIRECT }),
    ).rejects.toThrow(new ProviderUnavailable('discovery has no valid token_endpoint'))
  })
})

describe('the code exchange', () => {
  it('uses client_secret_basic when offered (each part form-encoded)', async () => {
    tokenAnswer = {
      status: 200,
      body: { id_token: await idToken(), access_token: 'a', token_type: 'Bearer' },
    }
    expect(await exchange()).toEqual({ sub: 'u-1', email: 'carol@example.com', emailVerified: true })
    const [r] = tokenRequests
    const basic = Buffer.from('airlock+console:s3cret%3A%2B%2F+x').toString('base64')
    expect(r?.headers['authorization']).toBe(`Basic ${basic}`)
    expect(Object.fromEntries(r?.body ?? [])).toEqual({
      grant_type: 'authorization_code',
      code: 'c-1',
      redirect_uri: REDIRECT,
      code_verifier: 'v'.repeat(43),
    })
  })

  it('uses client_secret_post when that is all the provider offers', async () => {
    discovery['token_endpoint_auth_methods_supported'] = ['client_secret_post', 'private_key_jwt']
    tokenAnswer = { status: 200, body: { id_token: await idToken() } }
    await exchange()
    const [r] = tokenRequests
    expect(r?.headers['authorization']).toBeUndefined()
    expect(r?.body.get('client_id')).toBe(CLIENT)
    expect(r?.body.get('client_secret')).toBe(SECRET)
  })

  it('refuses a provider with neither method, and says what a refused code was', async () => {
    discovery['token_endpoint_auth_methods_supported'] = ['private_key_jwt']
    await expect(exchange()).rejects.toThrow(/neither client_secret_basic nor client_secret_post/)
    discovery['token_endpoint_auth_methods_supported'] = ['client_secret_basic']
    tokenAnswer = { status: 400, body: { error: 'invalid_grant' } }
    await expect(exchange()).rejects.toThrow(
      new SignInFailed('the provider refused the sign-in code (invalid_grant)'),
    )
  })

  it('a client secret that cannot be read is the provider being unavailable, not a crash', async () => {
    tokenAnswer = { status: 200, body: { id_token: await idToken() } }
    const broken = oidcClient(
      { issuer, clientId: CLIENT, clientSecretRef: 'vault:oidc/secret', scopes: ['openid'] },
      { clock: systemClock, secret: async () => Promise.reject(new Error('vault sealed: s3cret-path')) },
    )
    const run = broken.exchange({ code: 'c-1', verifier: 'v-1', nonce: 'n-1', redirectUri: REDIRECT })
    await expect(run).rejects.toThrow(
      new ProviderUnavailable('the client secret (console.oidc.client_secret) cannot be read'),
    )
    expect(tokenRequests).toHaveLength(0)
  })
})

describe('the ID token', () => {
  const now = () => Math.floor(Date.now() / 1000)
  it.each([
    ['another nonce', { nonce: 'n-2' }, {}],
    ['no nonce', { nonce: undefined }, {}],
    ['another audience', { aud: 'someone-else' }, {}],
    ['two audiences without azp', { aud: [CLIENT, 'other'] }, {}],
    ['azp naming another client', { azp: 'other' }, {}],
    ['another issuer', { iss: 'https://evil.example.com' }, {}],
    ['expired', { iat: now() - 900, exp: now() - 600 }, {}],
    ['minted long ago', { iat: now() - 3600, exp: now() + 300 }, {}],
    ['no sub', { sub: undefined }, {}],
  ])('%s is refused', async (_name, over, header) => {
    tokenAnswer = { status: 200, body: { id_token: await idToken(over, header) } }
    await expect(exchange()).rejects.toThrow(SignInFailed)
  })

  it('a token signed with a shared secret or none is refused', async () => {
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const claims = { iss: issuer, aud: CLIENT, sub: 'u', nonce: 'n-1', iat: now(), exp: now() + 60 }
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET))
    for (const t of [hs, `${enc({ alg: 'none' })}.${enc(claims)}.`]) {
      tokenAnswer = { status: 200, body: { id_token: t } }
      await expect(exchange()).rejects.toThrow(SignInFailed)
    }
  })

  it('two audiences with azp naming this client are accepted; email_verified false is kept', async () => {
    tokenAnswer = {
      status: 200,
      body: { id_token: await idToken({ aud: [CLIENT, 'other'], azp: CLIENT, email_verified: false }) },
    }
    expect(await exchange()).toMatchObject({ sub: 'u-1', emailVerified: false })
  })
})
