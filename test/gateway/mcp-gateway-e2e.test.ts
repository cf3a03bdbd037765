// gateway_request through the real gateway: `airlock mcp` and a broker process whose gateway
// provider fronts a local HTTP upstream. The upstream sees the environment's credential, the agent
// sees neither it nor the session token, and a call outside the class is a tool error.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mcpBroker, startMcp, textOf, type McpAgent } from '../support/mcp.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

const CANARY = `upstream-canary-${randomBytes(12).toString('hex')}`
const seen: string[] = []
let upstream: Upstream
let b: Awaited<ReturnType<typeof mcpBroker>>
let agent: McpAgent
const structured = <T>(r: { structuredContent?: unknown }) => r.structuredContent as T

beforeAll(async () => {
  upstream = await startUpstream((s, res) => {
    const auth = String(s.headers['authorization'])
    if (s.url.includes('/echo/')) {
      // An upstream that quotes its credential back, as a body and as an error shaped like Airlock's.
      const refusal = s.url.endsWith('/refusal')
      res.writeHead(refusal ? 403 : 200, { 'content-type': refusal ? 'application/json' : 'text/plain' })
      return res.end(
        refusal
          ? JSON.stringify({ error: 'forbidden', message: `token ${auth} is not allowed`, request_id: 'u1' })
          : `you sent ${auth} (${Buffer.from(auth).toString('base64')})`,
      )
    }
    res.writeHead(s.url.endsWith('/missing') ? 404 : 200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ method: s.method, url: s.url, body: s.body }))
  })
  b = await mcpBroker({
    publicUrlIsOwn: true,
    env: { GW_HTTP_TOKEN: CANARY },
    providers: `
  - name: admin-api
    type: gateway
    upstream: "${upstream.url}/admin"
    environments:
      staging: { credential: env:GW_HTTP_TOKEN }
    operation_classes:
      read: { http: ["GET /**"] }
      write: { http: ["GET /**", "POST /api/**"] }
      destructive: { http: ["DELETE /api/**"] }
`,
  })
  agent = await startMcp(b.envFor(b.keys['build-bot']), seen)
}, 60_000)

afterAll(async () => {
  await agent?.close()
  await b?.close()
  await upstream?.close()
})

describe('gateway_request through the gateway', () => {
  it('forwards with the upstream credential; statuses are results; a refusal is a tool error', async () => {
    const s = structured<{ session_id: string; status: string }>(
      await agent.call('request_access', {
        environment: 'staging',
        operation_class: 'read',
        provider: 'admin-api',
        task_id: 'GW-E2E',
      }),
    )
    expect(s.status).toBe('active')
    const ok = await agent.call('gateway_request', {
      session_id: s.session_id,
      method: 'GET',
      path: '/api/items?n=2',
    })
    expect(ok.isError).toBeFalsy()
    const r = structured<{ status: number; body: string }>(ok)
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body)).toMatchObject({ method: 'GET', url: '/admin/api/items?n=2' })
    expect(upstream.seen.at(-1)?.headers['authorization']).toBe(`Bearer ${CANARY}`)

    const missing = await agent.call('gateway_request', {
      session_id: s.session_id,
      method: 'GET',
      path: '/missing',
    })
    expect(structured<{ status: number }>(missing).status).toBe(404)

    const before = upstream.seen.length
    const refused = await agent.call('gateway_request', {
      session_id: s.session_id,
      method: 'POST',
      path: '/api/items',
      body: { name: 'x' },
    })
    expect(refused.isError).toBe(true)
    expect(textOf(refused)).toMatch(/\(operation_denied\)/)
    expect(upstream.seen.length).toBe(before)

    await agent.call('release_access', { session_id: s.session_id })
    const after = await agent.call('gateway_request', {
      session_id: s.session_id,
      method: 'GET',
      path: '/api',
    })
    expect(after.isError).toBe(true)
    expect(textOf(after)).toMatch(/is revoked/)
    const all = seen.join('\n')
    for (const secret of [CANARY, ...Object.values(b.keys)]) expect(all).not.toContain(secret)
  })

  it('an upstream that echoes its credential shows it to the agent nowhere', async () => {
    const s = structured<{ session_id: string }>(
      await agent.call('request_access', {
        environment: 'staging',
        operation_class: 'read',
        provider: 'admin-api',
        task_id: 'GW-ECHO',
      }),
    )
    const body = await agent.call('gateway_request', {
      session_id: s.session_id,
      method: 'GET',
      path: '/echo/body',
    })
    // The gateway redacts the encoded token inside a longer base64 value, leaving its edges.
    expect(structured<{ body: string }>(body).body).toMatch(
      /^you sent Bearer \[redacted\] \(\S*\[redacted\]\S*\)$/,
    )
    const refusal = await agent.call('gateway_request', {
      session_id: s.session_id,
      method: 'GET',
      path: '/echo/refusal',
    })
    expect(refusal.isError).toBe(true)
    expect(textOf(refusal)).toContain('[redacted]')
    for (const r of [body, refusal]) expect(JSON.stringify(r)).not.toContain(CANARY)
    await agent.call('release_access', { session_id: s.session_id })
  })

  it('a destructive call goes through once, as approved; no other call rides on the approval', async () => {
    const ask = (action?: object) =>
      agent.call('request_access', {
        environment: 'staging',
        operation_class: 'destructive',
        provider: 'admin-api',
        task_id: 'GW-DEL',
        ...(action && { action }),
      })
    const bare = await ask()
    expect(bare.isError).toBe(true)
    expect(textOf(bare)).toMatch(
      /add action \{method, path, body\} with the exact request \(invalid_request\)/,
    )

    const s = structured<{ session_id: string; status: string }>(
      await ask({ method: 'DELETE', path: '/api/items/7' }),
    )
    expect(s.status).toBe('pending_approval')
    const early = await agent.call('gateway_request', {
      session_id: s.session_id,
      method: 'DELETE',
      path: '/api/items/7',
    })
    expect(textOf(early)).toMatch(/still waits for approval \(0 of 2 approvals\)/)
    for (const who of ['bob', 'carol'] as const) {
      await b.api('POST', `/v1/sessions/${s.session_id}/approvals`, b.keys[who], { decision: 'approve' })
    }
    const del = (path: string, body?: unknown) =>
      agent.call('gateway_request', {
        session_id: s.session_id,
        method: 'delete',
        path,
        ...(body !== undefined && { body }),
      })
    const before = upstream.seen.length
    for (const [path, body] of [
      ['/api/items/8'],
      ['/api/items/7', { cascade: true }],
      ['/api/items'],
    ] as const) {
      const other = await del(path, body)
      expect(other.isError, path).toBe(true)
      expect(textOf(other)).toMatch(/\(operation_denied\)/)
    }
    expect(upstream.seen.length).toBe(before)
    const done = await del('/api/items/7')
    expect(done.isError).toBeFalsy()
    expect(JSON.parse(structured<{ body: string }>(done).body)).toMatchObject({
      method: 'DELETE',
      url: '/admin/api/items/7',
    })
    const again = await del('/api/items/7')
    expect(again.isError).toBe(true)
    expect(textOf(again)).toMatch(/\(operation_denied\)/)
    expect(upstream.seen.length).toBe(before + 1)
    await agent.call('release_access', { session_id: s.session_id })
    const all = seen.join('\n')
    for (const secret of [CANARY, ...Object.values(b.keys)]) expect(all).not.toContain(secret)
  })
})
