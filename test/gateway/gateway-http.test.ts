// The gateway in front of a plain HTTP API: forwarding, the headers that pass and the ones that
// do not, path containment (no request reaches another host), redaction of the upstream token
// (even split across chunks), body limit, timeout, revocation, and the audit trail. The upstream
// and the "other host" are real HTTP servers; the upstream token is a canary searched everywhere.
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { captureResponses, client, testBroker, type TestBroker } from '../helper.js'
import { runCli } from '../support/cli.js'
import { tempDir } from '../support/broker-process.js'
import { envCredential, gatewayProvider, listen } from '../support/gateway.js'
import { rawRequest, startUpstream, type Upstream } from '../support/upstream.js'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

const CANARY = `upstream-canary-${randomBytes(12).toString('hex')}`
let upstream: Upstream
let other: Upstream
let tb: TestBroker
let base: string
let port: number
const responses: string[] = []

beforeAll(async () => {
  upstream = await startUpstream((s, res) => {
    if (s.url.startsWith('/admin/echo')) {
      // Echoes the credential in a header and in a body split mid-token across two writes.
      const auth = String(s.headers['authorization'])
      res.writeHead(200, {
        'content-type': 'text/plain',
        'x-echo': auth,
        connection: 'close, x-drop',
        'x-drop': '1',
      })
      res.write(`you sent ${auth.slice(0, 20)}`)
      setImmediate(() => res.end(`${auth.slice(20)} and ${CANARY}.`))
      return
    }
    if (s.url.startsWith('/admin/slow')) return // never answers
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ method: s.method, url: s.url, body: s.body }))
  })
  other = await startUpstream((_s, res) => res.end('other host'))
  tb = await testBroker({
    yaml: {
      providers: gatewayProvider({
        name: 'admin-api',
        upstream: `${upstream.url}/admin`,
        credential: envCredential('GW_HTTP_TOKEN', CANARY),
        settings: ['timeout: 1s', 'body_limit_bytes: 2048', 'forward_headers: [x-trace]'],
        classes: [
          'read: { http: ["GET /**", "HEAD /**"] }',
          'write: { http: ["GET /**", "POST /api/**", "PUT /api/*/items"] }',
          'destructive: { http: ["DELETE /api/**"] }',
        ],
      }),
    },
  })
  captureResponses(tb.app, responses)
  port = await listen(tb)
  base = `http://127.0.0.1:${port}/gw/admin-api`
}, 30_000)

afterAll(async () => {
  await tb?.close()
  await upstream?.close()
  await other?.close()
})

const session = async (operation_class = 'write', agent = 'build-bot') => {
  const r = await client(tb.app, tb.keys).issue(agent, { provider: 'admin-api', operation_class })
  return r as unknown as {
    session: Record<string, any>
    grant: { token: string; credentials: Record<string, string> }
  }
}

const call = async (
  token: string | null,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
) => {
  const r = await request(`${base}${path}`, {
    method: method as 'GET',
    headers: { ...(token && { authorization: `Bearer ${token}` }), ...headers },
    ...(body !== undefined && { body }),
  })
  const text = await r.body.text()
  responses.push(JSON.stringify(r.headers), text)
  return {
    status: r.statusCode,
    headers: r.headers,
    text,
    json: () => JSON.parse(text) as Record<string, any>,
  }
}

describe('gateway: plain HTTP', () => {
  it('the grant is the gateway URL and the session token, never the upstream token', async () => {
    const { grant } = await session()
    expect(grant.credentials).toEqual({ url: 'http://airlock.test/gw/admin-api', token: grant.token })
  })

  it('forwards an allowed call to upstream + path with the query string, the credential in place of the token', async () => {
    const { grant } = await session()
    const before = upstream.seen.length
    const r = await call(grant.token, 'GET', '/api/things?x=1&y=2', undefined, {
      'x-trace': 't1',
      'x-other': 'no',
      cookie: 'c=1',
      accept: 'application/json',
    })
    expect(r.status).toBe(200)
    expect(r.json()).toMatchObject({ method: 'GET', url: '/admin/api/things?x=1&y=2' })
    const seen = upstream.seen[before]!
    expect(seen.headers['authorization']).toBe(`Bearer ${CANARY}`)
    expect(seen.headers['x-trace']).toBe('t1')
    expect(seen.headers['accept']).toBe('application/json')
    expect(seen.headers['x-other']).toBeUndefined()
    expect(seen.headers['cookie']).toBeUndefined()
    expect(JSON.stringify(seen.headers)).not.toContain(grant.token)
  })

  it('the gateway URL with and without a trailing slash reaches the upstream base itself', async () => {
    const { grant } = await session('read')
    expect((await call(grant.token, 'GET', '')).json().url).toBe('/admin')
    expect((await call(grant.token, 'GET', '/')).json().url).toBe('/admin')
  })

  it('passes a POST body on and refuses what the class does not allow, without reaching the upstream', async () => {
    const { grant } = await session()
    const ok = await call(grant.token, 'POST', '/api/things', '{"a":1}', {
      'content-type': 'application/json',
    })
    expect(ok.status).toBe(200)
    expect(ok.json().body).toBe('{"a":1}')
    const before = upstream.seen.length
    const del = await call(grant.token, 'DELETE', '/api/things/1')
    expect(del.status).toBe(403)
    expect(del.json()).toMatchObject({
      error: 'operation_denied',
      message: 'DELETE /api/things/1 is not allowed for write on admin-api (it needs destructive)',
    })
    expect((await call(grant.token, 'PUT', '/api/a/b/items')).status).toBe(403)
    expect((await call(grant.token, 'POST', '/other')).json().message).toMatch(/no class allows it/)
    expect(upstream.seen.length).toBe(before)
  })

  it('a POST that asks for another method with _method is 400 and reaches no upstream; one without goes whole', async () => {
    const { grant, session: s } = await session()
    const before = upstream.seen.length
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    const refused = [
      await call(grant.token, 'POST', '/api/things/1', 'name=x&_method=DELETE', form),
      await call(grant.token, 'POST', '/api/things/1?_method=DELETE', 'name=x', form),
      await call(grant.token, 'POST', '/api/things/1', '{"_method":"DELETE"}', {
        'content-type': 'application/json',
      }),
    ]
    for (const r of refused) {
      expect(r.status).toBe(400)
      expect(r.json()).toMatchObject({
        error: 'invalid_request',
        message: expect.stringMatching(
          /^a _method parameter in the (body|query string) can change the method/,
        ),
      })
    }
    expect(upstream.seen.length).toBe(before)
    const ok = await call(grant.token, 'POST', '/api/things', 'name=x&method=y', form)
    expect(ok.status).toBe(200)
    expect(ok.json()).toMatchObject({ method: 'POST', body: 'name=x&method=y' })
    const refusals = tb.audit
      .map((l) => JSON.parse(l) as Record<string, any>)
      .filter((e) => e.session_id === s.id && e.type === 'gateway.refused')
    expect(refusals.map((e) => [e.details.refused, e.details.status])).toEqual(
      Array(3).fill(['_method', 400]),
    )
  })

  it('a _method in a body that Rack, PHP or Laravel reads despite an odd Content-Type is 400 and reaches no upstream', async () => {
    const { grant } = await session()
    const before = upstream.seen.length
    const refused = [
      // No Content-Type: Rack reads a POST's body as a form.
      await call(grant.token, 'POST', '/api/things/1', '_method=DELETE'),
      await call(grant.token, 'POST', '/api/things/1', '{"_method":"DELETE"}', {
        'content-type': 'text/plain; x="/json"',
      }),
      // Laravel reads JSON wherever the header holds /json.
      await call(grant.token, 'POST', '/api/things/1', '{"_method":"DELETE"}', {
        'content-type': 'text/json',
      }),
    ]
    expect(refused.map((r) => [r.status, r.json().error])).toEqual(Array(3).fill([400, 'invalid_request']))
    expect(upstream.seen.length).toBe(before)
  })

  it('the credential is redacted from headers and from a body that splits it across chunks; hop-by-hop headers are dropped', async () => {
    const { grant } = await session('read')
    const r = await call(grant.token, 'GET', '/echo')
    expect(r.status).toBe(200)
    expect(r.text).toBe('you sent Bearer [redacted] and [redacted].')
    expect(r.headers['x-echo']).toBe('Bearer [redacted]')
    expect(r.headers['x-drop']).toBeUndefined()
  })

  it.each([
    ['GET /gw/admin-api/../admin-api/x HTTP/1.1'],
    ['GET /gw/admin-api/api/%2e%2e/%2E%2E/x HTTP/1.1'],
    ['GET /gw/admin-api//127.0.0.1:PORT/x HTTP/1.1'],
    ['GET /gw/admin-api/api\\..\\x HTTP/1.1'],
    ['GET /gw/admin-api/api/%2f%2fevil HTTP/1.1'],
    ['GET /gw/admin-api/api/%252e%252e/x HTTP/1.1'],
    ['GET /gw/admin-api/./x HTTP/1.1'],
    // A servlet container drops `;...` from a segment, then reads the dot segment left.
    ['GET /gw/admin-api/api/..;/..;/x HTTP/1.1'],
    ['GET /gw/admin-api/api/%2e%2e;jsessionid=1/x HTTP/1.1'],
  ])('refuses %s and nothing reaches either host', async (line) => {
    const { grant } = await session('read')
    const before = upstream.seen.length
    const head = `${line.replace('PORT', String(other.port))}\r\nAuthorization: Bearer ${grant.token}`
    const r = await rawRequest(port, head)
    expect(r.status).toBe(400)
    expect(r.text).toMatch(/invalid_request/)
    responses.push(r.text)
    expect(upstream.seen.length).toBe(before)
    expect(other.seen).toEqual([])
  })

  it('an absolute URL in the request line reaches no host', async () => {
    const { grant } = await session('read')
    const r = await rawRequest(port, `GET ${other.url}/x HTTP/1.1\r\nAuthorization: Bearer ${grant.token}`)
    expect(r.status).toBe(404)
    expect(other.seen).toEqual([])
  })

  it('a body over the limit is 413 and is not forwarded', async () => {
    const { grant } = await session()
    const before = upstream.seen.length
    const r = await call(grant.token, 'POST', '/api/big', 'x'.repeat(4096))
    expect(r.status).toBe(413)
    expect(r.json().error).toBe('payload_too_large')
    expect(upstream.seen.length).toBe(before)
  })

  it('a streamed (chunked) body over the limit is 413, and the upstream never gets a whole request', async () => {
    const { session: s, grant } = await session()
    const before = upstream.seen.length
    const r = await request(`${base}/api/streamed`, {
      method: 'POST',
      headers: { authorization: `Bearer ${grant.token}` },
      body: Readable.from([Buffer.alloc(1500, 'a'), Buffer.alloc(1500, 'b')]),
    })
    const text = await r.body.text()
    expect(r.statusCode).toBe(413)
    expect(JSON.parse(text)).toMatchObject({ error: 'payload_too_large' })
    expect(upstream.seen.length).toBe(before)
    // Refused like a body declared too large: a gateway.refused event, not a forwarded one.
    const events = tb.audit
      .map((l) => JSON.parse(l) as Record<string, any>)
      .filter((e) => e.session_id === s.id)
    expect(events.map((e) => e.type)).toContain('gateway.refused')
    expect(events.map((e) => e.type)).not.toContain('gateway.forwarded')
    expect(events.find((e) => e.type === 'gateway.refused')?.details).toMatchObject({
      refused: 'body',
      status: 413,
    })
  })

  it('an upstream that does not answer within the timeout is 502 upstream_error', async () => {
    const { grant } = await session('read')
    const r = await call(grant.token, 'GET', '/slow')
    expect(r.status).toBe(502)
    expect(r.json()).toMatchObject({ error: 'upstream_error' })
    expect(r.json().message).toMatch(/within 1s/)
  })

  it('401 without a token, with a bad one, and after the session is revoked; 403 for a token of another provider', async () => {
    expect((await call(null, 'GET', '/x')).status).toBe(401)
    expect((await call('not.a.jwt', 'GET', '/x')).status).toBe(401)
    const { session: s, grant } = await session('read')
    expect((await call(grant.token, 'GET', '/x')).status).toBe(200)
    await client(tb.app, tb.keys).del(`/v1/sessions/${s.id}`, 'ops')
    expect((await call(grant.token, 'GET', '/x')).status).toBe(401)
    const jwt = await client(tb.app, tb.keys).issue('build-bot', { provider: 'other-api' })
    const r = await call(jwt.grant.token, 'GET', '/x')
    expect(r.status).toBe(403)
    expect(r.json().error).toBe('forbidden')
    // A refusal like any other: audited against the session that tried.
    const refused = tb.audit
      .map((l) => JSON.parse(l) as Record<string, any>)
      .find((e) => e.type === 'gateway.refused' && e.session_id === jwt.session.id)
    expect(refused?.details).toMatchObject({ provider: 'admin-api', refused: 'provider', status: 403 })
  })

  it('a locked agent gets 401 at once', async () => {
    const { grant } = await session('read', 'other-bot')
    const lock = await client(tb.app, tb.keys).post('/v1/locks', 'ops', {
      agent: 'other-bot',
      reason: 'test',
    })
    expect((await call(grant.token, 'GET', '/x')).status).toBe(401)
    await client(tb.app, tb.keys).del(`/v1/locks/${lock.body.lock.id}`, 'ops')
  })

  it('audits forwarded and refused calls without bodies, and counts them per provider', async () => {
    const { session: s, grant } = await session()
    await call(grant.token, 'POST', '/api/audited', '{"secret-body":1}')
    await call(grant.token, 'DELETE', '/api/audited')
    const events = tb.audit
      .map((l) => JSON.parse(l) as Record<string, any>)
      .filter((e) => e.session_id === s.id)
    const fw = events.find((e) => e.type === 'gateway.forwarded')
    const rf = events.find((e) => e.type === 'gateway.refused')
    expect(fw?.details).toMatchObject({ method: 'POST', path: '/api/audited', status: 200 })
    expect(rf?.details).toMatchObject({ method: 'DELETE', path: '/api/audited', status: 403 })
    expect(JSON.stringify(events)).not.toContain('secret-body')
    const metrics = await tb.app.inject({ method: 'GET', url: '/metrics' })
    expect(metrics.body).toMatch(
      /airlock_gateway_requests_total\{provider="admin-api",outcome="forwarded"\} [1-9]/,
    )
    expect(metrics.body).toMatch(/airlock_gateway_upstream_seconds_count\{provider="admin-api"\} [1-9]/)
  })

  it('airlock exec sets AIRLOCK_GATEWAY_URL and AIRLOCK_SESSION_TOKEN; --action-file binds the call to approve', async () => {
    const env = {
      AIRLOCK_URL: `http://127.0.0.1:${port}`,
      AIRLOCK_TOKEN: tb.keys['build-bot'],
      AIRLOCK_PROFILE: '',
    }
    const session = ['--env', 'staging', '--provider', 'admin-api', '--task', 'CLI-1']
    const r = await runCli(
      [
        'exec',
        ...session,
        '--class',
        'read',
        '--',
        'sh',
        '-c',
        'echo "url=$AIRLOCK_GATEWAY_URL len=${#AIRLOCK_SESSION_TOKEN}"',
      ],
      env,
    )
    expect(r.err).toBe('')
    expect(r.out).toMatch(/^url=http:\/\/airlock\.test\/gw\/admin-api len=[1-9]\d+$/m)
    const file = join(tempDir(), 'action.json')
    writeFileSync(
      file,
      JSON.stringify({ method: 'DELETE', path: '/api/volumes/7', body: { reason: 'cleanup' } }),
    )
    const req = await runCli(
      ['--json', 'request', ...session, '--class', 'destructive', '--action-file', file],
      env,
    )
    expect(req.code).toBe(0)
    const out = JSON.parse(req.out) as { session: { status: string; action: unknown } }
    expect(out.session).toMatchObject({
      status: 'pending_approval',
      action: { method: 'DELETE', path: '/api/volumes/7', body: { reason: 'cleanup' } },
    })
    // An approver reading it from the command line sees the call too, hidden characters escaped.
    const id = (out.session as unknown as { id: string }).id
    const show = await runCli(['sessions', 'show', id], { ...env, AIRLOCK_TOKEN: tb.keys.bob })
    expect(show.code, show.err).toBe(0)
    expect(show.out).toMatch(/^action\s+DELETE \/api\/volumes\/7\n\s+\{\n\s+"reason": "cleanup"\n\s+\}\n/m)
    const bad = await runCli(['request', ...session, '--class', 'destructive'], env)
    expect(bad.code).toBe(64)
    expect(bad.err).toMatch(/add action/)
  }, 60_000)

  it('the upstream token appears in no response, log line or audit event', () => {
    expect(responses.length).toBeGreaterThan(10)
    for (const text of [...responses, ...tb.logs.lines, ...tb.audit]) expect(text).not.toContain(CANARY)
  })
})
