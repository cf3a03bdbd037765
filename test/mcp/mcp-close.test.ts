// Closing `airlock mcp` while a call that opens a session is still waiting for the broker's answer:
// the session the broker made must still be ended. A proxy in front of a real broker process holds
// that answer back until the host has closed the server.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { mcpBroker, startMcp } from '../support/mcp.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

let b: Awaited<ReturnType<typeof mcpBroker>>
let proxy: Upstream
/** Answers of POST /v1/sessions, held until the test lets them go. */
const held: { id: string; release: () => void }[] = []
let onHeld: () => void = () => {}

beforeAll(async () => {
  b = await mcpBroker()
  proxy = await startUpstream((s, res) => {
    void (async () => {
      const headers: Record<string, string> = {}
      for (const k of ['authorization', 'content-type']) {
        const v = s.headers[k]
        if (typeof v === 'string') headers[k] = v
      }
      const r = await fetch(`${b.broker.url}${s.url}`, {
        method: s.method,
        headers,
        ...(s.body !== '' && { body: s.body }),
      })
      const text = await r.text()
      const answer = () => {
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' })
        res.end(text)
      }
      if (s.method !== 'POST' || s.url !== '/v1/sessions') return answer()
      const id = (JSON.parse(text) as { session: { id: string } }).session.id
      held.push({ id, release: answer })
      onHeld()
    })()
  })
}, 60_000)

afterAll(async () => {
  await proxy?.close()
  await b?.close()
})

describe('closing while request_access waits for the broker', () => {
  it('ends the session the broker opened, once its answer arrives', async () => {
    const seen: string[] = []
    const host = await startMcp(b.envFor(b.keys['other-bot'], proxy.url), seen)
    const arrived = new Promise<void>((r) => (onHeld = r))
    const call = host.call('request_access', {
      environment: 'staging',
      operation_class: 'read',
      provider: 'internal-api',
      task_id: 'CLOSE-INFLIGHT',
    })
    call.catch(() => {}) // the connection closes under it
    await arrived
    const { id, release } = held[0]!
    expect(await b.statusOf(id)).toBe('active')
    // The host stops the server; the answer comes once the signal is on its way.
    const exited = new Promise<void>((r) => (host.client.onclose = r))
    process.kill(host.transport.pid as number, 'SIGTERM')
    release()
    await exited
    await vi.waitFor(async () => expect(await b.statusOf(id)).toBe('revoked'), { timeout: 5_000 })
    await host.close()
  }, 30_000)
})
