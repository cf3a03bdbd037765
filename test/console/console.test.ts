// The web console's server side, through fastify's inject: API-key sign-in, cookies, roles,
// forms calling the same services as the API (with `via: console` in their audit events), bulk
// revocation's preview (exactly what the revoke ends), locks, audit, providers, bad input, limits,
// and the config section.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TestClock, client, sessionBody, testBroker, type TestBroker } from '../helper.js'
import { parseConfig } from '../../src/config/load.js'
import { canAct } from '../../src/runtime.js'
import { consoleSessions } from '../../src/console/sessions.js'
import { matchHuman } from '../../src/console/sessions.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { auditPage } from '../../src/console/pages/audit.js'
import { escapeHtml } from '../../src/console/html.js'
import { attemptLimiter } from '../../src/console/attempts.js'
import { EXAMPLE, exampleLoadOptions } from '../support/example-config.js'
import { arrives } from '../support/bounded.js'
import { consoleCsrf, consoleSignIn, HTML, KEY_LOGIN } from '../support/console.js'

let t: TestBroker
let api: ReturnType<typeof client>

beforeAll(async () => {
  t = await testBroker({ yaml: KEY_LOGIN })
  api = client(t.app, t.keys)
})
afterAll(async () => {
  await t.close()
})

/** Signs in with an API key the way the sign-in page does; returns the Cookie header to send. */
const signIn = (who: 'alice' | 'bob' | 'carol' | 'ops', broker: TestBroker = t): Promise<string> =>
  consoleSignIn(broker, broker.keys[who])

const get = (cookie: string, url: string, headers: Record<string, string> = HTML) =>
  t.app.inject({ method: 'GET', url, headers: { ...headers, cookie } })

/** The CSRF token of a signed-in page. */
const csrfOf = (cookie: string): Promise<string> => consoleCsrf(t, cookie)

const postForm = (cookie: string, url: string, form: Record<string, string>, headers = HTML) =>
  t.app.inject({ method: 'POST', url, headers: { ...headers, cookie }, payload: form })

const auditOf = async (sessionId: string) =>
  (await api.get(`/v1/audit?session_id=${sessionId}`, 'ops')).body.events as {
    type: string
    actor: string
    details: Record<string, unknown>
  }[]

describe('signing in with an API key (console.api_key_login: true)', () => {
  it('sets an HttpOnly, SameSite=Strict session cookie; sign-out ends it', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/console/login', headers: HTML })
    expect(page.body).toContain('name="api_key"')
    expect(page.body).not.toContain('single sign-on')
    const cookie = await signIn('bob')
    const home = await get(cookie, '/console')
    expect(home.statusCode).toBe(200)
    expect(home.body).toContain('Signed in as <strong>bob</strong>')
    const csrf = await csrfOf(cookie)
    const out = await postForm(cookie, '/console/logout', { csrf })
    expect(out.statusCode).toBe(303)
    expect(out.headers['location']).toBe('/console/login?ended=signed-out')
    expect(String(out.headers['set-cookie'])).toMatch(
      /airlock_console=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0/,
    )
    expect((await get(cookie, '/console')).headers['location']).toBe('/console/login')
    const types = (await api.get('/v1/audit?agent=bob', 'ops')).body.events.map(
      (e: { type: string }) => e.type,
    )
    expect(types).toEqual(expect.arrayContaining(['console.signed_in', 'console.signed_out']))
  })

  it('the session cookie line is exactly as promised', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/console/login', headers: HTML })
    const pre = /airlock_csrf=([\w-]+)/.exec(String(page.headers['set-cookie']))?.[1] as string
    const r = await t.app.inject({
      method: 'POST',
      url: '/console/login/key',
      headers: { cookie: `airlock_csrf=${pre}` },
      payload: { csrf: pre, api_key: t.keys.carol },
    })
    const line = (r.headers['set-cookie'] as string[]).find((c) => c.startsWith('airlock_console='))
    expect(line).toMatch(/^airlock_console=[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict$/)
  })

  it('refuses an agent’s key, an unknown key, and a form without the sign-in page’s token', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/console/login', headers: HTML })
    const pre = /airlock_csrf=([\w-]+)/.exec(String(page.headers['set-cookie']))?.[1] as string
    const attempt = (api_key: string, csrf = pre) =>
      t.app.inject({
        method: 'POST',
        url: '/console/login/key',
        headers: { cookie: `airlock_csrf=${pre}` },
        payload: { csrf, api_key },
      })
    expect((await attempt(t.keys['build-bot'])).json()).toMatchObject({
      error: 'forbidden',
      message: expect.stringMatching(/only people sign in/),
    })
    expect((await attempt('ak_nobody')).statusCode).toBe(401)
    expect((await attempt(t.keys.bob, 'not-the-token')).statusCode).toBe(403)
  })

  it('pages need a sign-in and the role the API would need', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/console', headers: HTML })).headers['location']).toBe(
      '/console/login',
    )
    const json = await t.app.inject({ method: 'GET', url: '/console/sessions' })
    expect(json.statusCode).toBe(401)
    expect(json.json()).toMatchObject({ error: 'unauthenticated', request_id: expect.any(String) })
    const carol = await signIn('carol')
    expect((await get(carol, '/console/sessions')).statusCode).toBe(200)
    const locks = await get(carol, '/console/locks')
    expect(locks.statusCode).toBe(403)
    expect(locks.body).toContain('carol lacks the role for this page (it needs one of: operator)')
    expect(locks.headers['content-type']).toMatch(/^text\/html/)
  })

  it('every page sends the strict security headers', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/console/login', headers: HTML })
    expect(r.headers['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    expect(r.headers).toMatchObject({
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    })
    expect(r.body).not.toMatch(/<script>|<style|style="|onclick|onerror/)
    const js = /src="(\/console\/assets\/[0-9a-f]{16}\/console\.js)"/.exec(r.body)?.[1] as string
    const asset = await t.app.inject({ method: 'GET', url: js })
    expect(asset.statusCode).toBe(200)
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expect(asset.body).toContain('EventSource')
  })
})

describe('actions go through the API’s services, recorded via: console', () => {
  it('revoking one session: same event as the API, with via console', async () => {
    const s = await api.issue('build-bot')
    const bob = await signIn('bob')
    const r = await postForm(bob, `/console/sessions/${s.session.id}/revoke`, {
      csrf: await csrfOf(bob),
      back: 'list',
    })
    expect(r.statusCode).toBe(303)
    expect(r.headers['location']).toBe('/console/sessions?done=revoked')
    expect((await api.get(`/v1/sessions/${s.session.id}`, 'ops')).body).toMatchObject({
      status: 'revoked',
      revoked_by: 'bob',
    })
    const revoked = (await auditOf(s.session.id)).find((e) => e.type === 'session.revoked')
    expect(revoked).toMatchObject({
      actor: 'bob',
      details: { via: 'console', reason: 'revoked by an operator' },
    })
  })

  it('bulk revocation says how many sessions it hits before it revokes them', async () => {
    const task = `BULK-${Date.now()}`
    const ids = [
      (await api.issue('build-bot', { task: { id: task } })).session.id,
      (await api.issue('other-bot', { task: { id: task } })).session.id,
    ]
    const bob = await signIn('bob')
    const preview = await get(bob, `/console/sessions/revoke?task_id=${task}&agent=`)
    expect(preview.statusCode).toBe(200)
    expect(preview.body).toMatch(/<strong>2<\/strong> live sessions match task_id BULK-/)
    expect(preview.body).toContain('data-confirm="Revoke 2 sessions?')
    for (const id of ids) expect((await api.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('active')
    const done = await postForm(bob, '/console/sessions/revoke', { csrf: await csrfOf(bob), task_id: task })
    expect(done.headers['location']).toBe('/console/sessions?done=bulk&n=2')
    expect((await get(bob, '/console/sessions?done=bulk&n=2')).body).toContain('2 sessions revoked.')
    for (const id of ids) {
      expect((await api.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('revoked')
      expect((await auditOf(id)).find((e) => e.type === 'session.revoked')?.details).toMatchObject({
        via: 'console',
        reason: 'bulk revoke by an operator',
      })
    }
    const none = await get(bob, '/console/sessions/revoke?agent=&task_id=')
    expect(none.statusCode).toBe(400)
    expect(none.body).toContain('name at least one of agent, environment, provider, operation_class, task_id')
  })

  it('locks: create with a reason and an expiry (it revokes what it matches), then lift', async () => {
    const live = await api.issue('other-bot', { task: { id: 'LOCK-1' } })
    const ops = await signIn('ops')
    const csrf = await csrfOf(ops)
    const made = await postForm(ops, '/console/locks', {
      csrf,
      agent: 'other-bot',
      environment: '',
      provider: '',
      task_id: '',
      reason: 'suspicious <b>activity</b>',
      expires_in: '2h',
    })
    expect(made.headers['location']).toBe('/console/locks?done=locked&n=1')
    const { locks } = (await api.get('/v1/locks', 'ops')).body
    const lock = locks.find((l: { agent: string }) => l.agent === 'other-bot')
    expect(lock).toMatchObject({ reason: 'suspicious <b>activity</b>', created_by: 'ops' })
    expect(Date.parse(lock.expires_at) - Date.now()).toBeGreaterThan(7_100_000)
    const page = await get(ops, '/console/locks')
    expect(page.body).toContain('suspicious &lt;b&gt;activity&lt;/b&gt;')
    expect((await api.get(`/v1/sessions/${live.session.id}`, 'ops')).body.status).toBe('revoked')
    expect((await api.post('/v1/sessions', 'other-bot', sessionBody())).status).toBe(403)

    const lifted = await postForm(ops, `/console/locks/${lock.id}/lift`, { csrf })
    expect(lifted.headers['location']).toBe('/console/locks?done=lifted')
    expect((await api.post('/v1/sessions', 'other-bot', sessionBody())).status).toBe(201)
    const events = (await api.get('/v1/audit?limit=50', 'ops')).body.events as {
      type: string
      actor: string
      details: { via?: string; lock?: { id: string } }
    }[]
    for (const type of ['lock.created', 'lock.deleted'])
      expect(events.find((e) => e.type === type && e.details.lock?.id === lock.id)).toMatchObject({
        actor: 'ops',
        details: { via: 'console' },
      })
    const bad = await postForm(ops, '/console/locks', {
      csrf,
      agent: 'other-bot',
      reason: 'x',
      expires_in: '0s',
    })
    expect(bad.statusCode).toBe(400)
    expect(bad.body).toContain('expires after')
  })

  it('the decision form refuses bad input with a page, or the error body for JSON clients', async () => {
    const r = await api.post('/v1/sessions', 'build-bot', sessionBody({ environment: 'prod' }))
    const id = r.body.session.id as string
    const carol = await signIn('carol')
    const csrf = await csrfOf(carol)
    const page = await postForm(carol, `/console/sessions/${id}/decision`, { csrf, decision: 'maybe' })
    expect(page.statusCode).toBe(400)
    expect(page.body).toContain('the form or link is not valid')
    const json = await postForm(
      carol,
      `/console/sessions/${id}/decision`,
      { csrf, decision: 'maybe' },
      {
        accept: 'application/json',
      },
    )
    expect(json.statusCode).toBe(400)
    expect(Object.keys(json.json()).sort()).toEqual(['error', 'message', 'request_id'])
    const big = await postForm(carol, `/console/sessions/${id}/decision`, {
      csrf,
      decision: 'approve',
      comment: 'x'.repeat(20_000),
    })
    expect(big.statusCode).toBe(413)
    const missing = await get(carol, '/console/sessions/ses_nothing')
    expect(missing.statusCode).toBe(404)
    expect(missing.body).toContain('no such session')
    // The decision itself, with its comment, is the approval service's.
    const ok = await postForm(carol, `/console/sessions/${id}/decision`, {
      csrf,
      decision: 'approve',
      comment: ' fine ',
    })
    expect(ok.headers['location']).toBe(`/console/sessions/${id}?done=approved`)
    expect((await api.get(`/v1/sessions/${id}`, 'ops')).body.approvals).toEqual([
      expect.objectContaining({ by: 'carol', via: 'console', comment: 'fine' }),
    ])
  })

  it('audit and providers pages, and the chain check', async () => {
    const ops = await signIn('ops')
    const audit = await get(ops, '/console/audit?agent=build-bot')
    expect(audit.statusCode).toBe(200)
    expect(audit.body).toContain('session.issued')
    expect(audit.body).toContain('Not checked since this broker started.')
    const check = await postForm(ops, '/console/audit/verify', { csrf: await csrfOf(ops) })
    expect(check.statusCode).toBe(200)
    expect(check.body.replace(/\s+/g, ' ')).toMatch(
      /Intact: \d+ events in \d+ chains? verify\. Checked by ops/,
    )
    const providers = await get(ops, '/console/providers')
    expect(providers.body).toContain('internal-api')
    expect(providers.body).toContain('healthy')
    // Paging: each page continues where the last stopped, without gaps or repeats.
    const all = (await api.get('/v1/audit?limit=1000', 'ops')).body.events.map(
      (e: { hash: string }) => e.hash,
    )
    const seen: string[] = []
    let before: string | undefined
    for (let i = 0; i < 100; i++) {
      const p = await auditPage(t.broker.store, { limit: 7, ...(before && { before }) })
      seen.push(...p.events.map((e) => e.hash))
      if (!p.next) break
      before = p.next
    }
    expect(seen.slice(0, all.length)).toEqual(all)
  })
})

describe('the sessions list’s event stream', () => {
  it('says `change` as soon as a session is granted at once, without approval', async () => {
    const b = await testBroker({ yaml: KEY_LOGIN })
    const stop = new AbortController()
    try {
      const address = await b.app.listen({ port: 0, host: '127.0.0.1' })
      const bob = await signIn('bob', b)
      const res = await fetch(`${address}/console/events`, {
        headers: { cookie: bob, accept: 'text/event-stream' },
        signal: stop.signal,
      })
      expect(res.status).toBe(200)
      const reader = (res.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader()
      /** Reads the stream until `text` has come; resolves with everything read. */
      const readUntil = async (text: string) => {
        let seen = ''
        while (!seen.includes(text)) {
          const { value, done } = await reader.read()
          if (done) throw new Error(`the stream ended before ${text}`)
          seen += value
        }
        return seen
      }
      await readUntil('retry:') // the stream is open and listening
      const change = readUntil('event: change')
      const granted = await client(b.app, b.keys).post('/v1/sessions', 'build-bot', sessionBody())
      expect(granted.status).toBe(201)
      // Well before the 30 s a list waited for before: the grant itself announces the session.
      await arrives(change, 'a change event for a session granted at once', 10_000)
    } finally {
      stop.abort()
      await b.close()
    }
  })
})

describe('bulk revocation: the preview lists what the revoke ends', () => {
  it('counts the same sessions, leaving out one past its deadline the sweeper has not recorded yet', async () => {
    const clock = new TestClock()
    const b = await testBroker({ clock, yaml: KEY_LOGIN })
    try {
      const c = client(b.app, b.keys)
      const task = `EDGE-${Date.now()}`
      // Past its deadline but still `active` in the store (no sweeper runs here): expired already.
      const overdue = (await c.issue('build-bot', { task: { id: task }, ttl_seconds: 60 })).session.id
      clock.advance(120_000)
      const active = (await c.issue('other-bot', { task: { id: task } })).session.id
      const asked = await c.post(
        '/v1/sessions',
        'build-bot',
        sessionBody({ environment: 'prod', task: { id: task } }),
      )
      expect(asked.status).toBe(202)
      const pending = asked.body.session.id as string

      const bob = await signIn('bob', b)
      const page = (url: string) => b.app.inject({ method: 'GET', url, headers: { ...HTML, cookie: bob } })
      const preview = await page(`/console/sessions/revoke?task_id=${task}`)
      expect(preview.statusCode).toBe(200)
      const listed = Number(/<strong>(\d+)<\/strong> live sessions? match/.exec(preview.body)?.[1])
      for (const id of [active, pending]) expect(preview.body).toContain(id)
      expect(preview.body).not.toContain(overdue)

      const csrf = /name="csrf" value="([\w-]+)"/.exec(preview.body)?.[1] as string
      const done = await b.app.inject({
        method: 'POST',
        url: '/console/sessions/revoke',
        headers: { ...HTML, cookie: bob },
        payload: { csrf, task_id: task },
      })
      expect(done.statusCode).toBe(303)
      const revoked = Number(/[?&]n=(\d+)/.exec(String(done.headers['location']))?.[1])
      expect(listed).toBe(2)
      expect(revoked).toBe(listed)
      for (const id of [active, pending])
        expect((await c.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('revoked')
      // Left to the sweeper, which records the expiry.
      expect((await c.get(`/v1/sessions/${overdue}`, 'ops')).body.status).toBe('expired')
    } finally {
      await b.close()
    }
  })
})

describe('console sessions: idle and absolute timeouts', () => {
  it('ends after idle_timeout without a request, and after absolute_timeout whatever happens', async () => {
    const clock = new TestClock(1_000_000)
    const store = createMemoryStore(clock)
    const s = consoleSessions({
      store,
      clock,
      config: () => ({ oidc: null, apiKeyLogin: true, idleTimeoutMs: 60_000, absoluteTimeoutMs: 300_000 }),
    })
    const { cookie } = await s.create('bob', 'api_key')
    clock.advance(59_000)
    expect(await s.read(cookie, true)).toMatchObject({ human: 'bob' })
    clock.advance(59_000) // 118 s after sign-in, 59 s after the last request
    expect(await s.read(cookie, false)).not.toBeNull()
    clock.advance(2_000) // a read without touch did not extend it
    expect(await s.read(cookie, true)).toBeNull()

    const second = await s.create('bob', 'api_key')
    for (let i = 0; i < 5; i++) {
      clock.advance(59_000)
      expect(await s.read(second.cookie, true)).not.toBeNull()
    }
    clock.advance(6_000) // 301 s after sign-in: past the absolute limit, 6 s after the last request
    expect(await s.read(second.cookie, true)).toBeNull()
    expect(await s.end(second.cookie)).toBeNull()
  })
})

describe('sign-in attempts', () => {
  it('are capped per address and minute', () => {
    const clock = new TestClock(0)
    const l = attemptLimiter(3, () => clock.now())
    expect([1, 2, 3, 4].map(() => l.allow('10.0.0.1'))).toEqual([true, true, true, false])
    expect(l.allow('10.0.0.2')).toBe(true)
    clock.advance(60_000)
    expect(l.allow('10.0.0.1')).toBe(true)
  })

  it('stay capped once a minute has seen more addresses than it tracks', () => {
    const l = attemptLimiter(3, () => 0)
    for (let i = 0; i < 100_000; i++) l.allow(`a${i}`)
    // Addresses beyond the table share one budget rather than going uncounted.
    expect(['x', 'y', 'z', 'w', 'v'].map((who) => l.allow(who))).toEqual([true, true, true, false, false])
    expect(l.allow('a1')).toBe(true)
  })
})

describe('the console section of the config', () => {
  const load = (console: string, humans = '') => {
    const { opts, cleanup } = exampleLoadOptions('console')
    try {
      const text = EXAMPLE.replace(/\nconsole:[\s\S]*$/, `\n${console}\n`).replace(
        '    email: alice@example.com',
        humans ? `    email: alice@example.com\n${humans}` : '    email: alice@example.com',
      )
      return parseConfig(text, { ...opts, env: { ...opts.env, CONSOLE_OIDC_SECRET: 's3cret' } })
    } finally {
      cleanup()
    }
  }

  it('the example loads, with alice matched by email', () => {
    const c = load(
      'console:\n  oidc: { issuer: https://login.example.com, client_id: c, client_secret: env:CONSOLE_OIDC_SECRET }',
    )
    expect(c.console).toEqual({
      oidc: {
        issuer: 'https://login.example.com',
        clientId: 'c',
        clientSecretRef: 'env:CONSOLE_OIDC_SECRET',
        scopes: ['openid', 'email'],
      },
      apiKeyLogin: false,
      idleTimeoutMs: 30 * 60_000,
      absoluteTimeoutMs: 12 * 3_600_000,
    })
    const alice = c.humans.find((h) => h.id === 'alice')
    expect(alice?.email).toBe('alice@example.com')
    expect(matchHuman(c.humans, { sub: 'x', email: 'ALICE@example.com', emailVerified: true })?.id).toBe(
      'alice',
    )
    expect(matchHuman(c.humans, { sub: 'x', email: 'alice@example.com', emailVerified: false })).toBeNull()
    // No email_verified claim at all (Entra ID sends none): not proof either.
    expect(matchHuman(c.humans, { sub: 'x', email: 'alice@example.com', emailVerified: null })).toBeNull()
    // A person pinned to a subject is matched by that subject only, whatever the email says.
    const pinned = c.humans.map((h) => (h.id === 'alice' ? { ...h, oidcSubject: '00u-alice' } : h))
    expect(
      matchHuman(pinned, { sub: 'someone-else', email: 'alice@example.com', emailVerified: true }),
    ).toBeNull()
    expect(matchHuman(pinned, { sub: '00u-alice', email: null, emailVerified: null })?.id).toBe('alice')
  })

  it('an email is folded only in ASCII: a look-alike address names nobody', () => {
    const c = load('console: { api_key_login: true }')
    const kate = { ...(c.humans[0] as (typeof c.humans)[number]), id: 'kate', email: 'kate@example.com' }
    const verified = (email: string) => matchHuman([kate], { sub: 'x', email, emailVerified: true })
    expect(verified('KATE@Example.COM')?.id).toBe('kate')
    // U+212A KELVIN SIGN lower-cases to an ASCII k: another mailbox, not kate's.
    expect(verified('\u212Aate@example.com')).toBeNull()
  })

  it.each([
    [
      'http issuer off loopback',
      'console:\n  oidc: { issuer: http://login.example.com, client_id: c, client_secret: env:CONSOLE_OIDC_SECRET }',
      /console.oidc.issuer: expected an https/,
    ],
    [
      'literal secret',
      'console:\n  oidc: { issuer: https://l.example.com, client_id: c, client_secret: hunter2 }',
      /console.oidc.client_secret: must be a secret reference/,
    ],
    [
      'unset variable',
      'console:\n  oidc: { issuer: https://l.example.com, client_id: c, client_secret: env:NOPE_NOT_SET }',
      /console.oidc.client_secret: environment variable NOPE_NOT_SET is not set/,
    ],
    ['nobody can sign in', 'console: { idle_timeout: 5m }', /console: nobody could sign in/],
    [
      'idle above absolute',
      'console: { api_key_login: true, idle_timeout: 2h, absolute_timeout: 1h }',
      /console.idle_timeout: must not exceed/,
    ],
  ])('%s is a config error', (_name, section, message) => {
    expect(() => load(section)).toThrow(message)
  })

  it('emails name one human each (without case)', () => {
    expect(() =>
      load('console: { api_key_login: true }', '  - id: alice2\n    email: Alice@Example.com'),
    ).toThrow(/humans\[\d\]\.email: duplicate email/)
  })

  it('a console sign-in counts as a way to approve once the console has OIDC', () => {
    const c = load(
      'console:\n  oidc: { issuer: https://l.example.com, client_id: c, client_secret: env:CONSOLE_OIDC_SECRET }',
    )
    const carol = {
      ...(c.humans.find((h) => h.id === 'carol') as (typeof c.humans)[number]),
      slackUserId: null,
    }
    expect(canAct(carol, { ...c, slack: null })).toBe(false)
    expect(canAct({ ...carol, email: 'carol@example.com' }, { ...c, slack: null })).toBe(true)
    expect(canAct({ ...carol, email: 'carol@example.com' }, { ...c, slack: null, console: null })).toBe(false)
  })
})

describe('a broker without a console section', () => {
  it('answers 404 under /console, saying how to turn it on', async () => {
    const plain = await testBroker()
    try {
      const r = await plain.app.inject({ method: 'GET', url: '/console', headers: HTML })
      expect(r.statusCode).toBe(404)
      expect(r.body).toContain(
        'the console is not set up on this broker (add a console section to its config)',
      )
    } finally {
      await plain.close()
    }
  })

  it('behind https the cookies are __Host- and Secure', async () => {
    const secure = await testBroker({
      yaml: { publicUrl: 'https://airlock.example.com', extra: 'console: { api_key_login: true }' },
    })
    try {
      const r = await secure.app.inject({ method: 'GET', url: '/console/login', headers: HTML })
      expect(String(r.headers['set-cookie'])).toMatch(
        /^__Host-airlock_csrf=[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Secure$/,
      )
      expect(r.headers['strict-transport-security']).toBe('max-age=31536000')
    } finally {
      await secure.close()
    }
  })

  it('escapes every character that could leave text or an attribute', () => {
    expect(escapeHtml(`<img src=x onerror="a('b')">&\``)).toBe(
      '&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;&#96;',
    )
  })
})
