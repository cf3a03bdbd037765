// A console session is as strong as what signed it in, and no longer: one opened with an API key
// ends when the key is replaced, an open event stream ends at a sign-out elsewhere, a GET changes
// nothing, and bad input or a misbehaving sign-in provider is a precise 4xx or 503, never a 500.
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { client, sessionBody, testBroker, type TestBroker } from '../helper.js'
import { consoleCsrf, consoleSignIn, HTML, KEY_LOGIN } from '../support/console.js'
import { newKeys, testConfigYaml } from '../support/fixtures.js'

let t: TestBroker
beforeAll(async () => {
  t = await testBroker({ yaml: KEY_LOGIN })
})
afterAll(async () => t.close())

describe('a console session opened with an API key', () => {
  it('ends when the key is replaced in the config, on the next request', async () => {
    const cookie = await consoleSignIn(t, t.keys.bob)
    const alice = await consoleSignIn(t, t.keys.alice)
    const csrf = await consoleCsrf(t, cookie)
    const rotated = { ...t.keys, bob: newKeys().bob }
    await t.broker.reload(
      parseConfig(testConfigYaml(t.prefix, rotated, KEY_LOGIN), {
        baseDir: process.cwd(),
        env: { REDIS_URL: t.redisUrl },
      }),
    )
    const c = client(t.app, rotated)
    const s = (await c.issue('build-bot')).session.id as string
    const revoke = await t.app.inject({
      method: 'POST',
      url: `/console/sessions/${s}/revoke`,
      headers: { cookie },
      payload: { csrf },
    })
    expect(revoke.statusCode).toBe(401)
    expect(revoke.json().message).toMatch(/your console session has ended/)
    expect((await c.get(`/v1/sessions/${s}`, 'ops')).body.status).toBe('active')
    const page = await t.app.inject({ method: 'GET', url: '/console', headers: { ...HTML, cookie } })
    expect(page.statusCode).toBe(303)
    expect(page.headers.location).toBe('/console/login')
    // Someone whose key did not change stays signed in; bob signs in again with his new key.
    expect(
      (await t.app.inject({ method: 'GET', url: '/console', headers: { ...HTML, cookie: alice } }))
        .statusCode,
    ).toBe(200)
    const again = await consoleSignIn(t, rotated.bob)
    expect(
      (await t.app.inject({ method: 'GET', url: '/console', headers: { ...HTML, cookie: again } }))
        .statusCode,
    ).toBe(200)
  })
})

describe('the event stream', () => {
  it('says signed-out, not change, after the session was signed out in another tab', async () => {
    const b = await testBroker({ yaml: KEY_LOGIN })
    const stop = new AbortController()
    try {
      const address = await b.app.listen({ port: 0, host: '127.0.0.1' })
      const bob = await consoleSignIn(b, b.keys.bob)
      const res = await fetch(`${address}/console/events`, {
        headers: { cookie: bob, accept: 'text/event-stream' },
        signal: stop.signal,
      })
      expect(res.status).toBe(200)
      const reader = (res.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader()
      let seen = ''
      const readToEnd = async () => {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) return seen
          seen += value
        }
      }
      while (!seen.includes('retry:')) seen += (await reader.read()).value ?? ''
      const out = await b.app.inject({
        method: 'POST',
        url: '/console/logout',
        headers: { ...HTML, cookie: bob },
        payload: { csrf: await consoleCsrf(b, bob) },
      })
      expect(out.statusCode).toBe(303)
      const ended = readToEnd()
      expect((await client(b.app, b.keys).post('/v1/sessions', 'build-bot', sessionBody())).status).toBe(201)
      const all = await ended
      expect(all).toContain('event: signed-out')
      expect(all).not.toContain('event: change')
    } finally {
      stop.abort()
      await b.close()
    }
  })
})

describe('the audit chain check', () => {
  it('runs from a form carrying the CSRF token, never from a GET', async () => {
    const b = await testBroker({ yaml: KEY_LOGIN })
    try {
      const ops = await consoleSignIn(b, b.keys.ops)
      const page = () =>
        b.app.inject({ method: 'GET', url: '/console/audit', headers: { ...HTML, cookie: ops } })
      const form = /<form method="post" action="\/console\/audit\/verify">\s*<input type="hidden" name="csrf"/
      expect((await page()).body).toMatch(form)
      // A link (or an image on a sibling site) runs nothing and records no check.
      const link = await b.app.inject({
        method: 'GET',
        url: '/console/audit/verify',
        headers: { ...HTML, cookie: ops },
      })
      expect(link.statusCode).toBe(303)
      expect(link.headers.location).toBe('/console/audit')
      expect((await page()).body).toContain('Not checked since this broker started.')
      const post = (form: Record<string, string>) =>
        b.app.inject({
          method: 'POST',
          url: '/console/audit/verify',
          headers: { ...HTML, cookie: ops },
          payload: form,
        })
      expect((await post({})).statusCode).toBe(403)
      expect((await page()).body).toContain('Not checked since this broker started.')
      const run = await post({ csrf: await consoleCsrf(b, ops) })
      expect(run.statusCode).toBe(200)
      expect(run.body.replace(/\s+/g, ' ')).toMatch(
        /Intact: \d+ events in \d+ chains? verify\. Checked by ops/,
      )
    } finally {
      await b.close()
    }
  })
})

describe('bad input on console pages', () => {
  it('a lock expiring past ten years is a 400 naming the limit', async () => {
    const cookie = await consoleSignIn(t, t.keys.ops)
    const r = await t.app.inject({
      method: 'POST',
      url: '/console/locks',
      headers: { cookie },
      payload: {
        csrf: await consoleCsrf(t, cookie),
        agent: 'build-bot',
        reason: 'x',
        expires_in: '999999999d',
      },
    })
    expect(r.statusCode).toBe(400)
    expect(r.json().message).toMatch(/at most 3650d/)
  })

  it('an audit position past 64 bits is a 400, not an outage', async () => {
    const cookie = await consoleSignIn(t, t.keys.ops)
    const r = await t.app.inject({
      method: 'GET',
      url: '/console/audit?before=99999999999999999999-0',
      headers: { cookie },
    })
    expect(r.statusCode).toBe(400)
    expect(r.json().message).toMatch(/before is not a position in the audit log/)
  })

  it('the first audit position pages to nothing older, not an outage', async () => {
    const cookie = await consoleSignIn(t, t.keys.ops)
    const r = await t.app.inject({ method: 'GET', url: '/console/audit?before=0-0', headers: { cookie } })
    expect(r.statusCode).toBe(200)
  })
})

describe('a sign-in provider that misbehaves', () => {
  let server: Server
  let mode: 'null' | 'broken' = 'null'
  let sso: TestBroker
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url !== '/.well-known/openid-configuration') return res.writeHead(404).end('{}')
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      if (mode === 'null') return res.end('null'.padEnd(100))
      // Headers and the start of a body, then the connection breaks off.
      res.write('{"issuer":')
      res.socket?.destroy()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    sso = await testBroker({
      yaml: {
        publicUrl: KEY_LOGIN.publicUrl,
        extra: `console: { oidc: { issuer: "${issuer}", client_id: c, client_secret: env:CONSOLE_OIDC_SECRET } }`,
      },
      env: { CONSOLE_OIDC_SECRET: 'provider-secret-abc' },
    })
  })
  afterAll(async () => {
    await sso.close()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })

  it.each(['null', 'broken'] as const)('discovery answering %s: 503 saying so', async (m) => {
    mode = m
    const r = await sso.app.inject({ method: 'GET', url: '/console/login/oidc' })
    expect(r.statusCode).toBe(503)
    expect(r.json().message).toMatch(
      m === 'null'
        ? /sign-in provider cannot be used: discovery is not a JSON object/
        : /sign-in provider cannot be used: cannot reach/,
    )
    expect(sso.logs.lines.join('\n')).not.toMatch(/Cannot read properties/)
  })
})
