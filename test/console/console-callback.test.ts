// The console's OIDC callback against a real OpenID Provider (oidc-provider), over HTTP without a
// browser: the sign-in's `state` is used up only by the browser that started it (its binding
// cookie), so a callback link replayed elsewhere is refused without spoiling the real one.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { testBroker, type TestBroker } from '../helper.js'
import { testConfigYaml, type YamlOptions } from '../support/fixtures.js'
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js'

const PUBLIC_URL = 'http://127.0.0.1:8080'
const HTML = { accept: 'text/html' }
let issuer: OidcIssuer
let t: TestBroker

beforeAll(async () => {
  issuer = await startOidcIssuer({ redirectUri: `${PUBLIC_URL}/console/callback` })
  // Checked when the config loads (env), read at each sign-in (the process's environment).
  vi.stubEnv('CONSOLE_OIDC_SECRET', issuer.clientSecret)
  t = await testBroker({ yaml: yaml(), env: { CONSOLE_OIDC_SECRET: issuer.clientSecret } })
})

/** The broker's config, with alice's identity fields (matched by email unless told otherwise). */
const yaml = (alice = 'email: alice@example.com', consoleYaml?: string): YamlOptions => ({
  publicUrl: PUBLIC_URL,
  humanFields: { alice },
  extra:
    consoleYaml ??
    `console: { oidc: { issuer: "${issuer.url}", client_id: ${issuer.clientId}, client_secret: env:CONSOLE_OIDC_SECRET } }`,
})

const reload = (o: YamlOptions) =>
  t.broker.reload(
    parseConfig(testConfigYaml(t.prefix, t.keys, o), {
      baseDir: process.cwd(),
      env: { REDIS_URL: t.redisUrl, CONSOLE_OIDC_SECRET: issuer.clientSecret },
    }),
  )
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

describe('a sign-in the config changed under', () => {
  it('a callback begun with another provider is a 400 saying to start again, not an outage', async () => {
    const { authorize, binding } = await startSignIn()
    const back = await issuer.signIn(authorize, 'alice')
    try {
      await reload(
        yaml(
          undefined,
          `console: { oidc: { issuer: "http://127.0.0.1:9", client_id: c, client_secret: env:CONSOLE_OIDC_SECRET } }`,
        ),
      )
      const r = await callback(back, `airlock_login=${binding}`)
      expect(r.statusCode).toBe(400)
      expect(r.body).toContain('the sign-in provider changed since this sign-in started')
      expect(String(r.headers['set-cookie'] ?? '')).not.toContain('airlock_console=')
    } finally {
      await reload(yaml())
    }
  })
})

describe('a console session opened with OIDC', () => {
  /** Signs in at the provider as `login` and returns the console's Cookie header. */
  async function signInAs(login: string): Promise<string> {
    const { authorize, binding } = await startSignIn()
    const r = await callback(await issuer.signIn(authorize, login), `airlock_login=${binding}`)
    expect(r.statusCode, r.body).toBe(200)
    return `airlock_console=${/airlock_console=([\w-]+)/.exec(String(r.headers['set-cookie']))?.[1]}`
  }
  const pending = (cookie: string) =>
    t.app.inject({ method: 'GET', url: '/console', headers: { ...HTML, cookie } })

  it('ends once the identity it was matched on no longer names that person', async () => {
    try {
      // alice is pinned to another subject: the account that signed in by email is not hers.
      const byEmail = await signInAs('alice')
      expect((await pending(byEmail)).statusCode).toBe(200)
      await reload(yaml('email: alice@example.com, oidc_subject: alice-real-subject'))
      const pinned = await pending(byEmail)
      expect(pinned.statusCode).toBe(303)
      expect(pinned.headers.location).toBe('/console/login')

      // alice's email changes: a session from the old address ends.
      await reload(yaml())
      const old = await signInAs('alice')
      expect((await pending(old)).statusCode).toBe(200)
      await reload(yaml('email: alice@elsewhere.example.com'))
      expect((await pending(old)).statusCode).toBe(303)

      // Single sign-on turned off: its sessions end, as API-key sessions do without api_key_login.
      await reload(yaml())
      const sso = await signInAs('alice')
      await reload(yaml(undefined, 'console: { api_key_login: true }'))
      expect((await pending(sso)).statusCode).toBe(303)
    } finally {
      await reload(yaml())
    }
  })

  it('a new sign-in in the same browser ends the session it had', async () => {
    const first = await signInAs('alice')
    // The sign-in link is clicked on the console (the session cookie goes along); the provider's
    // redirect back is a cross-site navigation, which a SameSite=Strict cookie does not follow.
    const start = await t.app.inject({
      method: 'GET',
      url: '/console/login/oidc',
      headers: { ...HTML, cookie: first },
    })
    expect(start.statusCode).toBe(303)
    const binding = /airlock_login=([\w-]+)/.exec(String(start.headers['set-cookie']))?.[1] as string
    const back = await issuer.signIn(String(start.headers['location']), 'alice')
    const r = await callback(back, `airlock_login=${binding}`)
    expect(r.statusCode, r.body).toBe(200)
    const second = `airlock_console=${/airlock_console=([\w-]+)/.exec(String(r.headers['set-cookie']))?.[1]}`
    expect((await pending(second)).statusCode).toBe(200)
    expect((await pending(first)).statusCode).toBe(303)
  })

  it('stays while the person is still matched the same way', async () => {
    const cookie = await signInAs('alice')
    await reload(yaml('email: ALICE@example.com'))
    expect((await pending(cookie)).statusCode).toBe(200)
  })
})
