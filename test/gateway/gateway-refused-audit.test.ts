// Calls the gateway refuses after classifying them are audited like every other refusal: a 503
// when the upstream credential cannot be read (its file is missing) and a 400 when the URL
// parser's last check refuses a path. Each is one `gateway.refused` event with the session,
// method, path, what was refused and the status, and nothing of the body, variables or credential.
// The path check can only refuse what the first containment let through, which no request can
// do: here a wrapper around containPath lets one marked path through, as a bug there would.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type * as PathModule from '../../src/gateway/path.js'
import { client, testBroker, type TestBroker } from '../helper.js'
import { tempDir } from '../support/broker-process.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

/** The path a broken containment would let through: it leaves the upstream's base path. */
const LET_THROUGH = '/let-through'
vi.mock('../../src/gateway/path.js', async (importOriginal) => {
  const real = await importOriginal<typeof PathModule>()
  return {
    ...real,
    containPath: (rawUrl: string, prefix: string) =>
      rawUrl.endsWith(LET_THROUGH)
        ? { path: '/../../elsewhere', query: '', segments: ['let-through'] }
        : real.containPath(rawUrl, prefix),
  }
})

const CANARY = `refused-canary-${randomBytes(12).toString('hex')}`
const BODY_MARK = `body-mark-${randomBytes(6).toString('hex')}`
let upstream: Upstream
let tb: TestBroker
let base: string

beforeAll(async () => {
  upstream = await startUpstream((_s, res) => res.end('ok'))
  process.env['GW_REFUSED_TOKEN'] = CANARY
  const missing = join(tempDir(), 'no-such-token')
  tb = await testBroker({
    yaml: {
      providers: `
  - name: ok-api
    type: gateway
    upstream: "${upstream.url}/admin"
    environments:
      staging: { credential: env:GW_REFUSED_TOKEN }
    operation_classes:
      write: { http: ["GET /**", "POST /**"] }
  - name: lost-api
    type: gateway
    upstream: "${upstream.url}/admin"
    environments:
      staging: { credential: "file:${missing}" }
    operation_classes:
      write: { http: ["GET /**", "POST /**"] }
`,
    },
  })
  await tb.app.listen({ port: 0, host: '127.0.0.1' })
  base = `http://127.0.0.1:${(tb.app.server.address() as { port: number }).port}/gw`
}, 30_000)

afterAll(async () => {
  await tb?.close()
  await upstream?.close()
})

const session = async (provider: string) =>
  (await client(tb.app, tb.keys).issue('build-bot', { provider, operation_class: 'write' })) as unknown as {
    session: { id: string }
    grant: { token: string }
  }

const post = async (token: string, url: string) => {
  const r = await request(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ secret: BODY_MARK }),
  })
  const text = await r.body.text()
  return { status: r.statusCode, text, json: () => JSON.parse(text) as Record<string, unknown> }
}

const eventsOf = (sessionId: string) =>
  tb.audit
    .map(
      (l) => JSON.parse(l) as { type: string; session_id: string | null; details: Record<string, unknown> },
    )
    .filter((e) => e.session_id === sessionId && e.type.startsWith('gateway.'))

describe('gateway: refusals after classification are audited', () => {
  it('a credential that cannot be read: 503, nothing sent, one gateway.refused event', async () => {
    const { session: s, grant } = await session('lost-api')
    const before = upstream.seen.length
    const r = await post(grant.token, `${base}/lost-api/items?x=1`)
    expect(r.status).toBe(503)
    expect(r.json()).toMatchObject({ error: 'unavailable' })
    expect(upstream.seen.length).toBe(before)
    const events = eventsOf(s.id)
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({
      type: 'gateway.refused',
      details: { method: 'POST', path: '/items', refused: 'credential', status: 503 },
    })
  })

  it('a path the URL parser finds outside the upstream: 400, nothing sent, one gateway.refused event', async () => {
    const { session: s, grant } = await session('ok-api')
    const before = upstream.seen.length
    const r = await post(grant.token, `${base}/ok-api${LET_THROUGH}`)
    expect(r.status).toBe(400)
    expect(r.json()).toMatchObject({ error: 'invalid_request' })
    expect(upstream.seen.length).toBe(before)
    const events = eventsOf(s.id)
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({
      type: 'gateway.refused',
      details: { method: 'POST', path: LET_THROUGH, refused: 'path', status: 400 },
    })
    // The same session's ordinary call still goes through.
    expect((await post(grant.token, `${base}/ok-api/items`)).status).toBe(200)
  })

  it('no event carries the body, the query string or the credential', () => {
    const all = tb.audit.join('\n')
    expect(all).not.toContain(BODY_MARK)
    expect(all).not.toContain(CANARY)
    expect(all).not.toContain('x=1')
  })
})
