// The web console in a real browser (Debian's Chromium through playwright-core) against a real
// broker process and a real OpenID Provider (oidc-provider) on another site (localhost vs the
// broker's 127.0.0.1): sign-in with PKCE, a second approval while the agent waits, live pages,
// refusals, CSRF, the Content-Security-Policy, inert agent text, sign-out and the idle timeout.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { CSP } from '../../src/console/plugin.js'
import { deletePrefix, newKeys, sessionBody, testConfigYaml } from '../helper.js'
import {
  callApi,
  freePort,
  startBrokerProcess,
  tempDir,
  writeSigningKey,
  type BrokerProcess,
} from '../support/broker-process.js'
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js'

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium'
const IDLE_SECONDS = 4
const redisUrl = inject('redisUrl')
const prefix = `airlock-test:${Date.now().toString(36)}c:`
const keys = newKeys()
let broker: BrokerProcess
let issuer: OidcIssuer
let browser: Browser

beforeAll(async () => {
  const dir = tempDir()
  const port = await freePort()
  const publicUrl = `http://127.0.0.1:${port}`
  issuer = await startOidcIssuer({ redirectUri: `${publicUrl}/console/callback` })
  const config = join(dir, 'airlock.yaml')
  const consoleYaml = `
console:
  oidc: { issuer: "${issuer.url}", client_id: ${issuer.clientId}, client_secret: env:CONSOLE_OIDC_SECRET }
  idle_timeout: ${IDLE_SECONDS}s
`
  writeFileSync(
    config,
    testConfigYaml(prefix, keys, {
      port,
      publicUrl,
      signingKeyPath: writeSigningKey(dir).path,
      humanFields: {
        alice: 'email: alice@example.com',
        bob: 'oidc_subject: bob-oidc',
        carol: 'email: Carol@Example.com',
      },
      extra: consoleYaml,
    }),
  )
  ;[broker, browser] = await Promise.all([
    startBrokerProcess(config, { REDIS_URL: redisUrl, CONSOLE_OIDC_SECRET: issuer.clientSecret }),
    chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }),
  ])
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await broker?.stop()
  await issuer?.close()
  await deletePrefix(redisUrl, prefix)
})

/** A JSON call to the broker's API as one of the test principals. */
function api(method: string, path: string, who: keyof typeof keys, body?: unknown) {
  return callApi(broker.url, method, path, keys[who], body)
}

/** A destructive request by build-bot (owned by alice): two approvals among bob and carol. */
async function destructiveRequest(over: Record<string, unknown> = {}) {
  const r = await api(
    'POST',
    '/v1/sessions',
    'build-bot',
    sessionBody({ operation_class: 'destructive', ...over }),
  )
  expect(r.status, JSON.stringify(r.body)).toBe(202)
  return r.body.session.id as string
}

/**
 * Signs in through the provider's login form. Resolves on the console's front page, or (refused)
 * on the callback's answer.
 */
async function signIn(context: BrowserContext, login: string, refused = false): Promise<Page> {
  const page = await context.newPage()
  await page.goto(`${broker.url}/console`)
  await page.getByRole('link', { name: 'Sign in with single sign-on' }).click()
  await page.locator('input[name=login]').fill(login)
  await page.locator('input[name=password]').fill('anything')
  await page.getByRole('button', { name: 'Sign-in' }).click()
  await page.waitForURL(refused ? `${broker.url}/console/callback?**` : `${broker.url}/console`)
  return page
}

/** Until the page's event stream is open (a locator: the page's CSP forbids evaluating strings). */
const live = (page: Page) => page.locator('body[data-live-state="open"]').waitFor({ state: 'attached' })

const withContext = async (f: (c: BrowserContext) => Promise<void>) => {
  const context = await browser.newContext()
  context.setDefaultTimeout(10_000)
  try {
    await f(context)
  } finally {
    await context.close()
  }
}

describe('console in a browser', () => {
  it('OIDC sign-in; second approval while the agent waits; the page follows the claim and an API revocation', async () => {
    const id = await destructiveRequest({
      task: { id: 'OPS-7', description: 'drop the staging cache' },
      justification: 'cache is corrupt',
    })
    expect((await api('POST', `/v1/sessions/${id}/approvals`, 'bob', { decision: 'approve' })).status).toBe(
      200,
    )
    const waiting = api('GET', `/v1/sessions/${id}?wait=30`, 'build-bot')

    await withContext(async (context) => {
      const page = await signIn(context, 'carol')
      const card = page.locator('article', { has: page.locator(`a[href="/console/sessions/${id}"]`) })
      await expect.poll(() => card.textContent()).toContain('drop the staging cache')
      const text = (await card.textContent()) ?? ''
      for (const s of [
        'build-bot',
        'destructive',
        'staging',
        'internal-api',
        'OPS-7',
        'cache is corrupt',
        '1 of 2',
        'bob via api',
      ])
        expect(text).toContain(s)
      expect(await card.locator('dt:text-is("May still approve") + dd').textContent()).toBe('carol')

      await page.getByRole('link', { name: /build-bot: destructive in staging/ }).click()
      // By keyboard: the comment's label names the field, Tab reaches Approve, Enter presses it.
      await page.getByLabel(/Comment/).fill('checked with the team')
      await page.keyboard.press('Tab')
      expect(await page.evaluate('document.activeElement.textContent')).toBe('Approve')
      await page.keyboard.press('Enter')
      await page.waitForURL(`${broker.url}/console/sessions/${id}?done=approved`)
      await expect.poll(() => page.locator('#session-facts .status').textContent()).toBe('approved')

      // The agent's wait ends with the approval; it claims, and the open page shows it active.
      const waited = await waiting
      expect(waited.body.status).toBe('approved')
      expect(waited.body.approvals.map((a: { by: string; via: string }) => `${a.by}/${a.via}`)).toEqual([
        'bob/api',
        'carol/console',
      ])
      await live(page)
      const claim = await api('POST', `/v1/sessions/${id}/grant`, 'build-bot')
      expect(claim.status).toBe(200)
      expect(claim.body.session.status).toBe('active')
      await expect
        .poll(() => page.locator('#session-facts .status').textContent(), { timeout: 5000 })
        .toBe('active')

      // The sessions list follows a revocation made over the API.
      await page.getByRole('link', { name: 'Sessions' }).click()
      await live(page)
      const row = page.locator('tr', { has: page.locator(`a[href="/console/sessions/${id}"]`) })
      expect(await row.locator('.status').textContent()).toBe('active')
      expect((await api('DELETE', `/v1/sessions/${id}`, 'ops')).status).toBe(200)
      await expect.poll(() => row.locator('.status').textContent(), { timeout: 5000 }).toBe('revoked')
    })

    const audit = await api('GET', `/v1/audit?session_id=${id}`, 'ops')
    const approved = audit.body.events.find((e: { type: string }) => e.type === 'session.approved')
    expect(approved).toMatchObject({
      actor: 'carol',
      details: { via: 'console', comment: 'checked with the team' },
    })
  }, 30_000)

  it('an identity no human matches is refused, and API-key sign-in is off unless enabled', async () => {
    await withContext(async (context) => {
      const page = await signIn(context, 'mallory', true)
      expect(page.url()).toContain('/console/callback')
      await expect
        .poll(() => page.locator('[role=alert]').textContent())
        .toMatch(
          /you signed in as mallory@example.com \(subject mallory\), but no person in this broker's config has that email or oidc_subject/,
        )
      expect(await page.title()).toMatch(/Not allowed/)
      await page.goto(`${broker.url}/console`)
      expect(new URL(page.url()).pathname).toBe('/console/login')
      // The sign-in page offers no API-key form here, and the route refuses one all the same.
      expect(await page.locator('input[name=api_key]').count()).toBe(0)
    })
    const r = await fetch(`${broker.url}/console/login/key`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ api_key: keys.bob }).toString(),
    })
    expect(r.status).toBe(403)
    expect(await r.json()).toMatchObject({
      error: 'forbidden',
      message: expect.stringMatching(/api_key_login/),
    })
  }, 30_000)

  it('bob signs in by OIDC subject; strict CSP; agent text stays text; CSRF-less posts are refused', async () => {
    const hostile = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    const id = await destructiveRequest({
      task: { id: 'XSS-1', description: hostile },
      justification: `${hostile}!`,
    })
    await withContext(async (context) => {
      const page = await signIn(context, 'bob-oidc')
      const res = await page.goto(`${broker.url}/console/sessions/${id}`)
      const headers = res?.headers() ?? {}
      expect(headers['content-security-policy']).toBe(CSP)
      expect(CSP).toContain("script-src 'self'")
      expect(CSP).toContain("frame-ancestors 'none'")
      expect(CSP).not.toContain('unsafe-inline')
      expect(headers['x-frame-options']).toBe('DENY')
      expect(await page.locator('.signout strong').textContent()).toBe('bob')
      expect(await page.locator('.agent-text').first().textContent()).toBe(hostile)
      expect(await page.locator('#session-facts img').count()).toBe(0)
      expect(await page.evaluate('typeof window.pwned')).toBe('undefined')

      const post = (body: string) =>
        page.evaluate(
          async ([url, b]) => {
            const r = await fetch(url as string, {
              method: 'POST',
              headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
              body: b as string,
            })
            return { status: r.status, text: await r.text() }
          },
          [`/console/sessions/${id}/decision`, body],
        )
      for (const body of ['decision=approve', 'csrf=wrong&decision=approve']) {
        const r = await post(body)
        expect(r.status).toBe(403)
        expect(r.text).toContain('security token (CSRF) is missing or wrong')
      }
      expect((await api('GET', `/v1/sessions/${id}`, 'ops')).body.approvals).toEqual([])
    })
  }, 30_000)

  it('the requester cannot approve from the console: the API’s rule and message', async () => {
    const id = await destructiveRequest({ task: { id: 'OWN-1' } })
    await withContext(async (context) => {
      const page = await signIn(context, 'alice')
      await page.goto(`${broker.url}/console/sessions/${id}`)
      await expect
        .poll(() => page.locator('.warning').textContent())
        .toMatch(
          /You cannot approve this request: alice owns build-bot: an agent's owners never approve its requests/,
        )
      expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0)
      // A forged approval with a valid token gets the API's 403 and changes nothing.
      const csrf = await page.locator('input[name=csrf]').first().inputValue()
      const r = await page.evaluate(
        async ([url, b]) => {
          const res = await fetch(url as string, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
            body: b as string,
          })
          return { status: res.status, body: (await res.json()) as { error: string; message: string } }
        },
        [`/console/sessions/${id}/decision`, `csrf=${encodeURIComponent(csrf)}&decision=approve`],
      )
      const viaApi = await api('POST', `/v1/sessions/${id}/approvals`, 'alice', { decision: 'approve' })
      expect(r.status).toBe(403)
      expect(r.body).toMatchObject({ error: 'forbidden', message: viaApi.body.message })
      expect((await api('GET', `/v1/sessions/${id}`, 'ops')).body.approvals).toEqual([])
    })
  }, 30_000)

  it('sign-out ends the session everywhere; an idle session ends by itself', async () => {
    await withContext(async (context) => {
      const page = await signIn(context, 'carol')
      const cookie = (await context.cookies()).find((c) => c.name === 'airlock_console')
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false })
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL(`${broker.url}/console/login?ended=signed-out`)
      expect(await page.locator('.notice').textContent()).toBe('You are signed out.')
      // The old cookie opens nothing any more.
      const old = await fetch(`${broker.url}/console/sessions`, {
        headers: { cookie: `airlock_console=${cookie?.value}`, accept: 'application/json' },
      })
      expect(old.status).toBe(401)
    })
    // Idle: a page left open is taken to the sign-in page when the session times out.
    await withContext(async (context) => {
      const page = await signIn(context, 'carol')
      await page.goto(`${broker.url}/console/sessions`)
      await live(page)
      const opened = Date.now()
      await page.waitForURL(`${broker.url}/console/login?ended=1`, { timeout: (IDLE_SECONDS + 6) * 1000 })
      expect(Date.now() - opened).toBeGreaterThan((IDLE_SECONDS - 1) * 1000)
      await page.goto(`${broker.url}/console`)
      expect(new URL(page.url()).pathname).toBe('/console/login')
    })
  }, 30_000)
})
