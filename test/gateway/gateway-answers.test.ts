// How the gateway hands an upstream's answer to the agent: an answer already complete is redacted
// and sent whole (with its length); one still arriving is streamed as it comes, redacted across
// chunks. Either way the audit event is written before the agent gets a byte, and an answer the
// upstream breaks off is an error, never a truncated success.
import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { gzipSync } from 'node:zlib'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, testBroker, type TestBroker } from '../helper.js'
import { envCredential, gatewayProvider, listen } from '../support/gateway.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

const CANARY = `answers-canary-${randomBytes(12).toString('hex')}`
let upstream: Upstream
let tb: TestBroker
let base: string
/** The answers the upstream has left open, by path: a test ends them when it is ready. */
const open = new Map<string, ServerResponse>()
let opened: ((path: string) => void) | null = null

beforeAll(async () => {
  upstream = await startUpstream((s, res) => {
    if (s.url.endsWith('/whole')) {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ echo: s.headers['authorization'], ok: true }))
    } else if (s.url.endsWith('/held')) {
      // The first part now, the rest (the credential split across the two) when the test says.
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write(`first part, then ${CANARY.slice(0, 10)}`)
      open.set(s.url, res)
      opened?.(s.url)
    } else if (s.url.endsWith('/broken')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      res.write('{"partial":')
      setImmediate(() => res.socket?.destroy())
    } else if (s.url.endsWith('/gzip')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' })
      res.end(gzipSync(`compressed ${CANARY}`))
    } else if (s.url.endsWith('/gzip-transfer')) {
      // Compressed as a transfer coding, which the client does not undo: the same bytes.
      res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'gzip, chunked' })
      res.end(gzipSync(`compressed ${CANARY}`))
    } else if (s.url.endsWith('/utf16')) {
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-16LE' })
      res.end(Buffer.from(JSON.stringify({ echo: CANARY }), 'utf16le'))
    } else if (s.url.endsWith('/utf16-bom')) {
      // No charset named: a UTF-16 byte order mark says it.
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(JSON.stringify({ echo: CANARY }), 'utf16le')]),
      )
    } else if (s.url.endsWith('/utf16-second')) {
      // Two charsets named: a client may take either, so neither may hide the credential.
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8; charset=utf-16le' })
      res.end(Buffer.from(JSON.stringify({ echo: CANARY }), 'utf16le'))
    } else if (s.url.endsWith('/utf7')) {
      res.writeHead(200, { 'content-type': 'text/plain; charset="utf-7"' })
      res.end(`token ${CANARY.replaceAll('_', '+AF8-')}`)
    } else if (s.url.endsWith('/latin1')) {
      res.writeHead(200, { 'content-type': 'text/plain; charset=ISO-8859-1' })
      res.end(`token ${CANARY}`)
    } else res.end('?')
  })
  tb = await testBroker({
    yaml: {
      providers: gatewayProvider({
        name: 'answers-api',
        upstream: upstream.url,
        credential: envCredential('GW_ANSWERS_TOKEN', CANARY),
        settings: ['timeout: 5s'],
        classes: ['read: { http: ["GET /**", "HEAD /**"] }'],
      }),
    },
  })
  base = `http://127.0.0.1:${await listen(tb)}/gw/answers-api`
}, 30_000)

afterAll(async () => {
  for (const res of open.values()) res.destroy()
  await tb?.close()
  await upstream?.close()
})

const session = async () => {
  const r = await client(tb.app, tb.keys).issue('build-bot', {
    provider: 'answers-api',
    operation_class: 'read',
  })
  return r as unknown as { session: { id: string }; grant: { token: string } }
}

const forwardedEvents = (sessionId: string) =>
  tb.audit
    .map((l) => JSON.parse(l) as { type: string; session_id: string | null; details: { path?: string } })
    .filter((e) => e.type === 'gateway.forwarded' && e.session_id === sessionId)

describe('gateway answers', () => {
  it('a complete answer is redacted and sent whole, with its length, after its audit event', async () => {
    const { session: s, grant } = await session()
    const r = await request(`${base}/whole`, { headers: { authorization: `Bearer ${grant.token}` } })
    const audited = forwardedEvents(s.id).length
    const text = await r.body.text()
    expect(r.statusCode).toBe(200)
    expect(JSON.parse(text)).toEqual({ echo: 'Bearer [redacted]', ok: true })
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(text)))
    expect(r.headers['transfer-encoding']).toBeUndefined()
    expect(audited).toBe(1)
  })

  it('a HEAD answer has no body and claims no length of zero', async () => {
    const { grant } = await session()
    const r = await request(`${base}/whole`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${grant.token}` },
    })
    expect(r.statusCode).toBe(200)
    expect(await r.body.text()).toBe('')
    expect(r.headers['content-length']).toBeUndefined()
  })

  it('an answer still arriving streams as it comes, redacted across chunks, after its audit event', async () => {
    const { session: s, grant } = await session()
    const held = new Promise<string>((ok) => (opened = ok))
    const r = await request(`${base}/held`, { headers: { authorization: `Bearer ${grant.token}` } })
    // Headers and the first part reach the agent while the upstream has not finished.
    expect(r.statusCode).toBe(200)
    expect(forwardedEvents(s.id)).toHaveLength(1)
    const reader = r.body[Symbol.asyncIterator]()
    const first = (await reader.next()).value as Buffer
    expect(first.toString()).toBe('first part, then ')
    // The rest of the credential arrives; the whole of it never reaches the agent.
    const res = open.get(await held)!
    res.end(`${CANARY.slice(10)} and the end`)
    let rest = ''
    for (let c = await reader.next(); !c.done; c = await reader.next()) rest += (c.value as Buffer).toString()
    expect(first.toString() + rest).toBe('first part, then [redacted] and the end')
    expect(r.headers['content-length']).toBeUndefined()
  })

  it('an answer the upstream breaks off never reaches the agent as a complete success', async () => {
    const { grant } = await session()
    // Broken off before anything was sent: 502; after the first part was: the connection breaks.
    const outcome = await request(`${base}/broken`, { headers: { authorization: `Bearer ${grant.token}` } })
      .then(async (r) => ({ status: r.statusCode, text: await r.body.text() }))
      .catch((e: Error) => ({ status: 0, text: e.message }))
    if (outcome.status === 502) expect(JSON.parse(outcome.text)).toMatchObject({ error: 'upstream_error' })
    else expect(outcome).toMatchObject({ status: 0, text: /other side closed|terminated/ })
  })

  it('an answer in a charset whose bytes hide the credential is refused with 502', async () => {
    const { grant } = await session()
    const headers = { authorization: `Bearer ${grant.token}` }
    for (const [path, named] of [
      ['/utf16', 'charset utf-16le'],
      ['/utf16-bom', 'UTF-16 or UTF-32'],
      ['/utf16-second', 'charset utf-16le'],
      ['/utf7', 'charset utf-7'],
    ] as const) {
      const r = await request(`${base}${path}`, { headers })
      const text = await r.body.text()
      expect(r.statusCode, path).toBe(502)
      expect(JSON.parse(text)).toMatchObject({
        error: 'upstream_error',
        message: expect.stringContaining(named),
      })
      expect(text).not.toContain(CANARY)
    }
    // An ASCII-compatible charset is read as bytes, as before: the credential is redacted.
    const latin = await request(`${base}/latin1`, { headers })
    expect(latin.statusCode).toBe(200)
    expect(await latin.body.text()).toBe('token [redacted]')
  })

  it('a compressed answer is refused with 502, and the broker goes on answering', async () => {
    const { grant } = await session()
    const headers = { authorization: `Bearer ${grant.token}` }
    const r = await request(`${base}/gzip`, { headers })
    expect(r.statusCode).toBe(502)
    expect(await r.body.json()).toMatchObject({ error: 'upstream_error' })
    const t = await request(`${base}/gzip-transfer`, { headers })
    expect(t.statusCode).toBe(502)
    expect(await t.body.json()).toMatchObject({
      error: 'upstream_error',
      message: expect.stringContaining('gzip-encoded body'),
    })
    // The discarded answer must not take the process down with it (its abort error is raised
    // before the 502 goes out).
    const next = await request(`${base}/whole`, { headers })
    expect(next.statusCode).toBe(200)
    await next.body.dump()
  })

  it('many calls on one token, then a revocation: the very next call is refused', async () => {
    const { session: s, grant } = await session()
    const call = () =>
      request(`${base}/whole`, { headers: { authorization: `Bearer ${grant.token}` } }).then(async (r) => {
        await r.body.dump()
        return r.statusCode
      })
    expect(await Promise.all(Array.from({ length: 20 }, call))).toEqual(Array(20).fill(200))
    await client(tb.app, tb.keys).del(`/v1/sessions/${s.id}`, 'ops')
    expect(await call()).toBe(401)
  })
})
