// `airlock mcp` spoken to by the SDK's own client over stdio, against a real broker process on a
// real Redis, with an aws provider on the local STS: every tool, approvals while a call waits,
// withdrawal on cancel, errors that never crash the server, and sessions ended when it closes.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { awsWorld, CANARY_AWS_SECRET, type AwsWorld } from '../support/aws-setup.js'
import { mcpBroker, startMcp, textOf, type McpAgent } from '../support/mcp.js'

/** Every tool result of this file, for the canary search at the end. */
const seen: string[] = []
let w: AwsWorld
let b: Awaited<ReturnType<typeof mcpBroker>>
let agent: McpAgent
/** Credentials the children had, for the canary search. */
const learned: string[] = []
const structured = <T>(r: { structuredContent?: unknown }) => r.structuredContent as T

type Access = { session_id: string; status: string; approvals: { by: string }[]; message: string }
type Run = { exit_code: number | null; timed_out: boolean; stdout: string; stderr: string }

const request = (a: McpAgent, over: Record<string, unknown> = {}) =>
  a.call('request_access', {
    environment: 'staging',
    operation_class: 'read',
    provider: 'internal-api',
    task_id: 'MCP-1',
    ...over,
  })

beforeAll(async () => {
  w = await awsWorld()
  b = await mcpBroker({ providers: w.providerYaml() })
  agent = await startMcp(b.envFor(b.keys['build-bot']), seen)
}, 60_000)

afterAll(async () => {
  await agent?.close()
  await b?.close()
  await w?.close()
})

describe('airlock mcp', () => {
  it('offers the five tools, each with an input and an output schema', async () => {
    const { tools } = await agent.client.listTools()
    expect(tools.map((t) => t.name).sort()).toEqual(
      ['access_status', 'gateway_request', 'release_access', 'request_access', 'run_with_access'].sort(),
    )
    for (const t of tools) {
      expect(t.inputSchema.type).toBe('object')
      expect(t.outputSchema?.type).toBe('object')
    }
    const run = tools.find((t) => t.name === 'run_with_access')
    expect(run?.inputSchema.required).toEqual(['session_id', 'command'])
  })

  it('request, status, run, release: the session is live between calls and ends on release', async () => {
    const r = await request(agent, { ttl: '10m' })
    expect(r.isError).toBeFalsy()
    const s = structured<Access>(r)
    expect(s).toMatchObject({ status: 'active', approvals: [] })
    expect(textOf(r)).toContain(s.session_id)

    const status = await agent.call('access_status', { session_id: s.session_id })
    expect(structured<Access>(status).status).toBe('active')

    // Two commands on one session: it stays open.
    for (const n of [1, 2]) {
      const run = await agent.call('run_with_access', {
        session_id: s.session_id,
        command: ['sh', '-c', `echo run ${n}; echo oops >&2; exit ${n}`],
      })
      expect(run.isError).toBeFalsy() // a failing command is a result
      expect(structured<Run>(run)).toMatchObject({ exit_code: n, stdout: `run ${n}\n`, stderr: 'oops\n' })
    }

    const released = await agent.call('release_access', { session_id: s.session_id })
    expect(structured<Access>(released).status).toBe('revoked')
    expect(await b.statusOf(s.session_id)).toBe('revoked')
    const after = await agent.call('run_with_access', { session_id: s.session_id, command: ['true'] })
    expect(after.isError).toBe(true)
    expect(textOf(after)).toMatch(/is revoked/)
  })

  it('run_with_access: the child has the credentials; nothing it prints of them comes back', async () => {
    const s = structured<Access>(await request(agent, { provider: 'aws-main', task_id: 'MCP-ENV' }))
    expect(s.status).toBe('active')
    const truth = join(b.dir, 'child-env.json')
    // Prints its whole environment, then each secret as base64 (whole, wrapped, after a prefix),
    // base64url, URL-encoded and inside a URL; writes the truth where only this test reads it.
    const script = `
      const fs = require('node:fs')
      const e = process.env
      fs.writeFileSync(${JSON.stringify(truth)}, JSON.stringify(e))
      console.log(JSON.stringify(e, null, 1))
      console.log('own key:', e.AIRLOCK_TOKEN ?? 'none')
      for (const k of ['AIRLOCK_SESSION_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
        const v = e[k], b = (s) => Buffer.from(s).toString('base64')
        console.log(k, 'b64', b(v))
        console.log(k, 'wrapped', b(v).replace(/(.{76})/g, '$1\\n'))
        console.log(k, 'basic', b('user:' + v), b('ab' + v + 'z'))
        console.log(k, 'b64url', Buffer.from(v).toString('base64url'))
        console.log(k, 'urlenc', encodeURIComponent(v), new URLSearchParams({ v }).toString())
        console.log(k, 'url', 'https://agent:' + encodeURIComponent(v) + '@db.example/x?token=' + encodeURIComponent(v))
      }`
    const r = await agent.call('run_with_access', {
      session_id: s.session_id,
      command: [process.execPath, '-e', script],
    })
    const out = structured<Run>(r)
    expect(out.exit_code, out.stderr).toBe(0)
    const env = JSON.parse(readFileSync(truth, 'utf8')) as Record<string, string>
    const secrets = [env['AIRLOCK_SESSION_TOKEN'], env['AWS_SECRET_ACCESS_KEY'], env['AWS_SESSION_TOKEN']]
    learned.push(...(secrets as string[]))
    // The child really had them: the local STS issued exactly these.
    const issued = w.fake.identities.get(env['AWS_ACCESS_KEY_ID'] as string)
    expect(issued?.secretAccessKey).toBe(env['AWS_SECRET_ACCESS_KEY'])
    expect(env['AIRLOCK_SESSION_TOKEN']?.split('.')).toHaveLength(3)
    expect(env['AIRLOCK_TOKEN']).toBeUndefined()
    for (const v of secrets as string[]) {
      const b64 = Buffer.from(v).toString('base64')
      for (const form of [
        v,
        b64,
        b64.slice(0, 60),
        Buffer.from(`user:${v}`).toString('base64').slice(8, 60),
        Buffer.from(v).toString('base64url'),
        encodeURIComponent(v),
        new URLSearchParams({ v }).toString().slice(2),
      ]) {
        expect(JSON.stringify(r)).not.toContain(form)
      }
    }
    // Each printed form became [redacted]; what describes the grant stays readable.
    expect(out.stdout).toContain('own key: none')
    expect(out.stdout).toMatch(/AWS_SECRET_ACCESS_KEY b64 \[redacted\]\n/)
    expect(out.stdout).toMatch(/AWS_SESSION_TOKEN wrapped \[redacted\]\n/)
    expect(out.stdout).toMatch(
      /AIRLOCK_SESSION_TOKEN url https:\/\/agent:\[redacted\]@db\.example\/x\?token=\[redacted\]/,
    )
    expect(out.stdout).toContain(`"AWS_ACCESS_KEY_ID": "${env['AWS_ACCESS_KEY_ID']}"`)
    expect(out.stdout).toContain('"AWS_REGION": "eu-west-1"')
    await agent.call('release_access', { session_id: s.session_id })
  })

  it('a command past its timeout is killed with everything it started', async () => {
    const s = structured<Access>(await request(agent, { task_id: 'MCP-TIMEOUT' }))
    const pidFile = join(b.dir, 'grandchild.pid')
    const r = await agent.call('run_with_access', {
      session_id: s.session_id,
      command: ['sh', '-c', `sleep 300 & echo $! > ${pidFile}; echo started; wait`],
      timeout_seconds: 1,
    })
    expect(r.isError).toBeFalsy()
    expect(structured<Run>(r)).toMatchObject({ timed_out: true, exit_code: null, stdout: 'started\n' })
    const pid = Number(readFileSync(pidFile, 'utf8'))
    await vi.waitFor(() => expect(alive(pid)).toBe(false), { timeout: 5_000, interval: 50 })
    await agent.call('release_access', { session_id: s.session_id })
  })

  it('output past the limit is cut and says so', async () => {
    const s = structured<Access>(await request(agent, { task_id: 'MCP-BIG' }))
    const r = await agent.call('run_with_access', {
      session_id: s.session_id,
      command: ['sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" x; echo done >&2'],
    })
    const out = r.structuredContent as Run & { stdout_truncated: boolean; stderr_truncated: boolean }
    expect(out.stdout).toBe('x'.repeat(16_384))
    expect(out).toMatchObject({ stdout_truncated: true, stderr_truncated: false, stderr: 'done\n' })
    await agent.call('release_access', { session_id: s.session_id })
  })

  it("the agent's own key is redacted even from a file a command prints", async () => {
    const s = structured<Access>(await request(agent, { task_id: 'MCP-KEY' }))
    const profile = join(b.dir, 'leaked.yaml')
    writeFileSync(profile, `profiles:\n  default:\n    token: ${b.keys['build-bot']}\n`)
    const r = await agent.call('run_with_access', { session_id: s.session_id, command: ['cat', profile] })
    expect(structured<Run>(r).stdout).toBe('profiles:\n  default:\n    token: [redacted]\n')
    await agent.call('release_access', { session_id: s.session_id })
  })

  it('no tool result ever held an API key, the broker secret or a credential', () => {
    expect(seen.length).toBeGreaterThan(10)
    const all = seen.join('\n')
    for (const canary of [...Object.values(b.keys), CANARY_AWS_SECRET, ...learned]) {
      expect(all).not.toContain(canary)
    }
  })
})

/** True while `pid` runs (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !/^\d+ \(.*\) Z/.test(stat)
  } catch {
    return false
  }
}
