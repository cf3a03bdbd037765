// A long-running `airlock mcp` keeps only the sessions it may still have to end: one released,
// withdrawn, denied, revoked or expired is dropped, so what it holds does not grow with each
// session. The server and a client of the official MCP SDK, linked in memory, against a real
// broker process; what the server holds is read from its held sessions.
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { heldSessions, type HeldSessions } from '../../src/mcp/access.js'
import { buildServer } from '../../src/mcp/server.js'
import { mcpBroker } from '../support/mcp.js'

let b: Awaited<ReturnType<typeof mcpBroker>>
let held: HeldSessions
let client: Client
const stopping = new AbortController()

type Access = { session_id: string; status: string }
async function call(name: string, args: Record<string, unknown>): Promise<Access> {
  const r = (await client.callTool({ name, arguments: args })) as CallToolResult
  expect(r.isError ?? false, JSON.stringify(r.content)).toBe(false)
  return r.structuredContent as Access
}
const request = (task: string, over: Record<string, unknown> = {}) =>
  call('request_access', {
    environment: 'staging',
    operation_class: 'read',
    provider: 'internal-api',
    task_id: task,
    ...over,
  })

beforeAll(async () => {
  // Requests wait for approval 3 seconds: one left pending runs out during the test.
  b = await mcpBroker({ approvals: { timeout: '3s' } })
  held = heldSessions({ url: b.broker.url, token: b.keys['other-bot'] as string })
  const server = buildServer(
    { url: b.broker.url, token: b.keys['other-bot'] as string },
    held,
    stopping.signal,
  )
  const [a, z] = InMemoryTransport.createLinkedPair()
  client = new Client({ name: 'airlock-test', version: '1.0.0' })
  await Promise.all([server.connect(a), client.connect(z)])
}, 60_000)

afterAll(async () => {
  stopping.abort()
  await client?.close()
  await b?.close()
})

describe('the sessions an MCP server holds', () => {
  it('do not grow with sessions that ended, whichever way they ended', async () => {
    // Live sessions stay held, to be ended on close.
    const live = [await request('LIVE-1'), await request('LIVE-2')]
    expect(held.size()).toBe(2)
    for (let i = 0; i < 12; i++) {
      const s = await request(`RELEASED-${i}`)
      expect((await call('release_access', { session_id: s.session_id })).status).toBe('revoked')
    }
    expect(held.size()).toBe(2)
    for (let i = 0; i < 4; i++) {
      const s = await request(`REVOKED-${i}`)
      await b.api('DELETE', `/v1/sessions/${s.session_id}`)
      expect((await call('access_status', { session_id: s.session_id })).status).toBe('revoked')
    }
    expect(held.size()).toBe(2)
    for (let i = 0; i < 3; i++) {
      const s = await request(`DENIED-${i}`, { operation_class: 'destructive', justification: 'clean up' })
      expect(s.status).toBe('pending_approval')
      await b.api('POST', `/v1/sessions/${s.session_id}/approvals`, b.keys.carol, { decision: 'deny' })
      expect((await call('access_status', { session_id: s.session_id })).status).toBe('denied')
    }
    expect(held.size()).toBe(2)
    // A session that runs out while nobody looks is dropped all the same.
    const short = await request('EXPIRES', { ttl: '1s' })
    expect(held.size()).toBe(3)
    await vi.waitFor(async () => expect(await b.statusOf(short.session_id)).toBe('expired'), {
      timeout: 10_000,
      interval: 100,
    })
    const s = await request('AFTER-EXPIRY')
    await call('release_access', { session_id: s.session_id })
    expect(held.size()).toBe(2)
    // So is a request left waiting for approval until it timed out: the broker is asked about it,
    // since an approval unseen here moves a session's end. One approved unseen stays held.
    const destructive = { operation_class: 'destructive', justification: 'clean up' }
    const waiting = await request('WAITS', destructive)
    const approved = await request('APPROVED-UNSEEN', destructive)
    for (const who of ['alice', 'carol'] as const)
      await b.api('POST', `/v1/sessions/${approved.session_id}/approvals`, b.keys[who], {
        decision: 'approve',
      })
    expect(held.size()).toBe(4)
    await vi.waitFor(async () => expect(await b.statusOf(waiting.session_id)).toBe('expired'), {
      timeout: 10_000,
      interval: 100,
    })
    const next = await request('AFTER-TIMEOUT')
    await call('release_access', { session_id: next.session_id })
    await vi.waitFor(() => expect(held.size()).toBe(3))
    live.push(approved)
    // What is still live is ended on close.
    expect(await held.endAll()).toEqual([])
    for (const l of live) expect(await b.statusOf(l.session_id)).toBe('revoked')
    expect(held.size()).toBe(0)
  }, 60_000)
})
