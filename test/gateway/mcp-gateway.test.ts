// gateway_request's side of the gateway (docs/gateway.md), against a local
// HTTP server that answers as the gateway does: the session token goes only to the grant's URL,
// the upstream's statuses are results, Airlock's refusals are errors, and nothing echoed back
// shows the token.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Grant, Session } from '../../src/client/sessions.js'
import type { Usable } from '../../src/mcp/access.js'
import { BODY_LIMIT, gatewayRequest } from '../../src/mcp/gateway.js'
import { redactor, secretsOf } from '../../src/mcp/redact.js'

const TOKEN = 'eyJhbGciOiJFZERTQSJ9.eyJzaWQiOiJzZXNfMSJ9.c2lnbmF0dXJlLWZvci10ZXN0cw'
let server: Server
let base = ''
const received: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = []

const use = (credentials: Record<string, unknown>): Usable => {
  const grant: Grant = { token: TOKEN, token_type: 'Bearer', expires_at: '', credentials }
  return {
    session: { id: 'ses_1', provider: 'railway' } as Session,
    grant,
    redactor: redactor(secretsOf(grant)),
  }
}
const gw = () => use({ url: `${base}/gw/railway`, token: TOKEN })
const send = (u: Usable, method: string, path: string, body?: unknown) =>
  gatewayRequest(u, { method, path, ...(body !== undefined && { body }) }, new AbortController().signal)

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401, { 'content-type': 'application/json' })
        return res.end(JSON.stringify({ error: 'unauthenticated', message: 'no token', request_id: 'r1' }))
      }
      if (req.url?.includes('volumeDelete')) {
        res.writeHead(403, { 'content-type': 'application/json' })
        return res.end(
          JSON.stringify({
            error: 'operation_denied',
            message: 'volumeDelete is not allowed for write on railway (it needs destructive)',
            request_id: 'r2',
          }),
        )
      }
      if (req.url?.endsWith('/missing')) {
        res.writeHead(404, { 'content-type': 'application/json' })
        return res.end(JSON.stringify({ error: 'not found upstream' }))
      }
      if (req.url?.endsWith('/big')) return res.end('z'.repeat(BODY_LIMIT + 10))
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ echo: req.headers.authorization, got: body }))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(() => new Promise<void>((r) => server.close(() => r())))

describe('gateway_request', () => {
  it("sends the session token to the grant's URL + path; an echo of it comes back redacted", async () => {
    const r = await send(gw(), 'post', '/graphql?x=1', { query: '{ me { id } }' })
    expect(received.at(-1)).toMatchObject({ method: 'POST', url: '/gw/railway/graphql?x=1' })
    expect(received.at(-1)?.headers['content-type']).toBe('application/json')
    expect(JSON.parse(received.at(-1)?.body ?? '')).toEqual({ query: '{ me { id } }' })
    expect(r.status).toBe(200)
    expect(r.body).not.toContain(TOKEN)
    expect(JSON.parse(r.body)).toMatchObject({ echo: 'Bearer [redacted]' })
  })

  it("the upstream's own error status is a result; Airlock's refusal is an error with its message", async () => {
    expect(await send(gw(), 'GET', '/missing')).toMatchObject({ status: 404, body_truncated: false })
    await expect(send(gw(), 'POST', '/volumeDelete')).rejects.toThrow(
      'volumeDelete is not allowed for write on railway (it needs destructive) (operation_denied)',
    )
  })

  it('a long body is cut at the limit and says so', async () => {
    const r = await send(gw(), 'GET', '/big')
    expect(r.body).toHaveLength(BODY_LIMIT)
    expect(r.body_truncated).toBe(true)
  })

  it('never sends the token outside the gateway URL', async () => {
    const before = received.length
    await expect(send(gw(), 'GET', '/../../elsewhere')).rejects.toThrow(/leaves the gateway URL/)
    await expect(send(gw(), 'GET', '@evil.example/')).rejects.toThrow(/must start with "\/"/)
    expect(received.length).toBe(before)
  })

  it('a request that cannot be sent is refused for what it is, not as a gateway that did not answer', async () => {
    const before = received.length
    await expect(send(gw(), 'GET', '/x', { a: 1 })).rejects.toThrow(
      'a GET request cannot carry a body: send the body with POST (or another method), or put its parameters in the query string',
    )
    await expect(send(gw(), 'head', '/x', 'text')).rejects.toThrow(/^a HEAD request cannot carry a body/)
    for (const m of ['TRACE', 'connect', 'Track']) {
      await expect(send(gw(), m, '/x')).rejects.toThrow(
        `method ${m.toUpperCase()} cannot be sent through gateway_request`,
      )
    }
    expect(received.length).toBe(before)
  })

  it('a grant without a gateway URL is not a gateway provider', async () => {
    await expect(send(use({}), 'GET', '/')).rejects.toThrow(
      'provider railway is not a gateway provider (its grant has no gateway URL): use run_with_access',
    )
  })

  it('a gateway grant with a field added later is still one (API.md: add freely)', async () => {
    const r = await send(use({ url: `${base}/gw/railway`, token: TOKEN, expires_in: 900 }), 'GET', '/x')
    expect(r.status).toBe(200)
    expect(received.at(-1)).toMatchObject({ method: 'GET', url: '/gw/railway/x' })
  })

  it('a grant whose token is not the session token is not one, and nothing is sent', async () => {
    const before = received.length
    await expect(send(use({ url: `${base}/gw/railway`, token: 'ghp_other' }), 'GET', '/x')).rejects.toThrow(
      'provider railway is not a gateway provider (its grant has no gateway URL): use run_with_access',
    )
    expect(received.length).toBe(before)
  })

  it('a database grant, whose url is a connection string, is not one either, and nothing is sent', async () => {
    const password = 'pw_abcdefghijklmnop'
    const pg = use({
      host: 'db',
      port: 5432,
      username: 'r',
      password,
      url: `postgresql://r:${password}@db:5432/app`,
    })
    const e = (await send(pg, 'GET', '/x').catch((x: unknown) => x)) as Error
    expect(e.message).toBe(
      'provider railway is not a gateway provider (its grant has no gateway URL): use run_with_access',
    )
  })
})
