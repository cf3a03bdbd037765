// Closing `airlock mcp` while calls are under way: a session whose request still waits for the
// broker's answer is ended all the same (a proxy in front of a real broker process holds that
// answer back), and a command that ignores SIGTERM does not outlive the server.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
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

describe('closing while run_with_access runs a command', () => {
  it('kills a command that ignores SIGTERM, with what it started', async () => {
    const host = await startMcp(b.envFor(b.keys['other-bot']), [])
    const s = (
      await host.call('request_access', {
        environment: 'staging',
        operation_class: 'read',
        provider: 'internal-api',
        task_id: 'CLOSE-RUN',
      })
    ).structuredContent as { session_id: string }
    const pidFile = join(b.dir, 'stubborn.pid')
    // Ignoring TERM is inherited: the sleep ignores it too.
    const run = host.call('run_with_access', {
      session_id: s.session_id,
      command: ['sh', '-c', `trap "" TERM; sleep 300 & echo $! > ${pidFile}; wait`],
      timeout_seconds: 600,
    })
    run.catch(() => {}) // the connection closes under it
    await vi.waitFor(() => expect(existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim()).toBeTruthy())
    const pid = Number(readFileSync(pidFile, 'utf8'))
    expect(alive(pid)).toBe(true)
    await host.close()
    await vi.waitFor(() => expect(alive(pid)).toBe(false), { timeout: 5_000, interval: 50 })
    expect(await b.statusOf(s.session_id)).toBe('revoked')
  }, 30_000)
})

/** True while `pid` runs (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}
