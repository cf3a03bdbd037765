// The console's OIDC callback against a real OpenID Provider (oidc-provider), over HTTP without a
// browser: the sign-in's `state` is used up only by the browser that started it (its binding
// cookie), so a callback link replayed elsewhere is refused without spoiling the real one.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { testBroker, type TestBroker } from '../helper.js'
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js'

const PUBLIC_URL = 'http://127.0.0.1:8080'
const HTML = { accept: 'text/html' }
let issuer: OidcIssuer
let t: TestBroker

beforeAll(async () => {
  issuer = await startOidcIssuer({ redirectUri: `${PUBLIC_URL}/console/callback` })
  // Checked when the config loads (env), read at each sign-in (the process's environment).
  vi.stubEnv('CONSOLE_OIDC_SECRET', issuer.clientSecret)
  t = await testBroker({
    yaml: {
      publicUrl: PUBLIC_URL,
      humanFields: { alice: 'email: alice@example.com' },
      extra: `console: { oidc: { issuer: "${issuer.url}", client_id: ${issuer.clientId}, client_secret: env:CONSOLE_OIDC_SECRET } }`,
    },
    env: { CONSOLE_OIDC_SECRET: issuer.clientSecret },
  })
})
afterAll(async () => {
  vi.unstubAllEnvs()
  await t?.close()
  await issuer?.close()
})

/** Starts a sign-in as a browser does: the provider's URL and the browser-binding cookie. */
async function startSignIn(): Promise<{ authorize: string; binding: string }> {
  const r = await t.app.inject({ method: 'GET', url: '/console/login/oidc', headers: HTML })
  expect(r.statusCode, r.body).toBe(303)
  const binding = /airlock_login=([\w-]+)/.exec(String(r.headers['set-cookie']))?.[1]
  expect(binding).toBeTruthy()
  return { authorize: String(r.headers['location']), binding: binding as string }
}

const callback = (url: URL, cookie?: string) =>
  t.app.inject({
    method: 'GET',
    url: url.pathname + url.search,
    headers: { ...HTML, ...(cookie !== undefined && { cookie }) },
  })

describe('the OIDC callback and the browser-binding cookie', () => {
  it('refuses a callback without the binding cookie and keeps the state for the browser that has it', async () => {
    const { authorize, binding } = await startSignIn()
    const back = await issuer.signIn(authorize, 'alice')
    expect(back.searchParams.get('state')).toBeTruthy()

    // The link opened elsewhere: no cookie, then another sign-in's cookie.
    const bare = await callback(back)
    expect(bare.statusCode).toBe(400)
    expect(bare.body).toContain('this sign-in was started in another browser')
    const other = await startSignIn()
    const foreign = await callback(back, `airlock_login=${other.binding}`)
    expect(foreign.statusCode).toBe(400)
    expect(foreign.body).toContain('this sign-in was started in another browser')
    expect(String(bare.headers['set-cookie'] ?? '')).not.toContain('airlock_console=')

    // The browser that started it still signs in, once.
    const real = await callback(back, `airlock_login=${binding}`)
    expect(real.statusCode, real.body).toBe(200)
    expect(real.body).toContain('Signed in as <strong>alice</strong>')
    expect(String(real.headers['set-cookie'])).toMatch(/airlock_console=[\w-]+/)
    const again = await callback(back, `airlock_login=${binding}`)
    expect(again.statusCode).toBe(400)
    expect(again.body).toContain('used already, expired, or not from this broker')
  })
})
