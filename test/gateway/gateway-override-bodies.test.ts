// A `_method` in a POST body whatever its Content-Type says: an upstream whose parser takes any
// type (body-parser's `type: '*/*'`) reads `{"_method":"DELETE"}` sent as text/plain, or a form
// sent as octet-stream or with no type, and deletes through a POST rule. Such a call is refused
// and audited, and reaches no upstream; a text body without one goes through as sent.
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, testBroker, type TestBroker } from '../helper.js'
import { envCredential, gatewayProvider, listen } from '../support/gateway.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

const CANARY = `override-canary-${randomBytes(12).toString('hex')}`
const BODY_MARK = `body-mark-${randomBytes(6).toString('hex')}`
let upstream: Upstream
let tb: TestBroker
let base: string

beforeAll(async () => {
  upstream = await startUpstream((_s, res) => res.end('{"ok":true}'))
  tb = await testBroker({
    yaml: {
      providers: gatewayProvider({
        name: 'things-api',
        upstream: `${upstream.url}/v1`,
        credential: envCredential('GW_OVERRIDE_TOKEN', CANARY),
        settings: ['body_limit_bytes: 2048'],
        classes: [
          'write: { http: ["GET /**", "POST /api/**"] }',
          'destructive: { http: ["DELETE /api/**"] }',
        ],
      }),
    },
  })
  base = `http://127.0.0.1:${await listen(tb)}/gw/things-api`
}, 30_000)

afterAll(async () => {
  await tb?.close()
  await upstream?.close()
})

async function session() {
  const r = await client(tb.app, tb.keys).issue('build-bot', {
    provider: 'things-api',
    operation_class: 'write',
  })
  return r as unknown as { session: { id: string }; grant: { token: string } }
}

/** A POST of `body` to `path`, with `type` as its Content-Type (none when null). */
async function post(token: string, path: string, body: string | Buffer | Readable, type: string | null) {
  const r = await request(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, ...(type !== null && { 'content-type': type }) },
    body,
  })
  return { status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> | string }
}

const refusalsOf = (sessionId: string) =>
  tb.audit
    .map(
      (l) => JSON.parse(l) as { type: string; session_id: string | null; details: Record<string, unknown> },
    )
    .filter((e) => e.session_id === sessionId && e.type === 'gateway.refused')

describe('gateway: a _method in a body of any declared type', () => {
  it('is refused with 400, audited, and reaches no upstream', async () => {
    const { session: s, grant } = await session()
    const before = upstream.seen.length
    const calls: [string, string | null][] = [
      [`{"_method":"DELETE","note":"${BODY_MARK}"}`, 'text/plain'],
      [`note=${BODY_MARK}&_method=DELETE`, 'application/octet-stream'],
      [`{"_method":"DELETE","note":"${BODY_MARK}"}`, null],
    ]
    for (const [body, type] of calls) {
      const r = await post(grant.token, '/api/things/1', body, type)
      expect(r.status, type ?? 'no type').toBe(400)
      expect(r.body).toMatchObject({
        error: 'invalid_request',
        message: expect.stringMatching(/^a _method parameter in the body can change the method/),
      })
    }
    expect(upstream.seen.length).toBe(before)
    expect(refusalsOf(s.id).map((e) => e.details)).toEqual(
      Array(3).fill(
        expect.objectContaining({ method: 'POST', path: '/api/things/1', refused: '_method', status: 400 }),
      ),
    )
    expect(tb.audit.join('\n')).not.toContain(BODY_MARK)
  })

  it('a text or binary body without one goes through byte for byte', async () => {
    const { grant } = await session()
    const before = upstream.seen.length
    const text = 'a note on _method & méthode\r\n{"method":"DELETE"}'
    expect((await post(grant.token, '/api/notes', text, 'text/plain; charset=utf-8')).status).toBe(200)
    const binary = Buffer.concat([randomBytes(512), Buffer.from('&method=DELETE')])
    expect((await post(grant.token, '/api/blobs', binary, 'application/octet-stream')).status).toBe(200)
    const [t, b] = upstream.seen.slice(before)
    expect(t).toMatchObject({ method: 'POST', url: '/v1/api/notes', body: text })
    expect(t?.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(b?.url).toBe('/v1/api/blobs')
    expect(b?.headers['content-length']).toBe(String(binary.length))
    expect(b?.body).toBe(binary.toString())
  })

  // Over the body limit and sent chunked, so only reading it would find it too large (413).
  it('a POST its class does not allow is refused for its path, its body left unread', async () => {
    const { grant } = await session()
    const before = upstream.seen.length
    const big = Readable.from([Buffer.alloc(4096, 'a')])
    const r = await post(grant.token, '/other', big, 'text/plain')
    expect(r.status).toBe(403)
    expect(r.body).toMatchObject({
      error: 'operation_denied',
      message: expect.stringMatching(/^POST \/other /),
    })
    expect(upstream.seen.length).toBe(before)
  })
})
