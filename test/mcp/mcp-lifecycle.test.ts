// `airlock mcp` over stdio against a real broker process: a request approved while request_access
// waits (with progress), a cancelled wait that withdraws the request, tool errors that leave the
// server running, and every session it opened ended when the host closes it or sends SIGTERM.
import type { Progress } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { mcpBroker, startMcp, textOf, type McpAgent } from '../support/mcp.js'

const seen: string[] = []
let b: Awaited<ReturnType<typeof mcpBroker>>
/** other-bot (owner bob): its destructive requests need two of alice and carol. */
let agent: McpAgent
const structured = <T>(r: { structuredContent?: unknown }) => r.structuredContent as T
type Access = { session_id: string; status: string; approvals: { by: string }[]; message: string }

const destructive = (task: string, over: Record<string, unknown> = {}) => ({
  environment: 'staging',
  operation_class: 'destructive',
  provider: 'internal-api',
  task_id: task,
  justification: 'drop the stale cache table',
  ...over,
})
const approve = (id: string, who: 'alice' | 'carol') =>
  b.api('POST', `/v1/sessions/${id}/approvals`, b.keys[who], { decision: 'approve' })
const pendingOf = async (task: string): Promise<string> => {
  let id = ''
  await vi.waitFor(
    async () => {
      const r = await b.api<{ sessions: { id: string; task: { id: string } }[] }>(
        'GET',
        '/v1/sessions?agent=other-bot&status=pending_approval',
      )
      id = r.sessions.find((s) => s.task.id === task)?.id ?? ''
      expect(id).not.toBe('')
    },
    { timeout: 15_000, interval: 100 },
  )
  return id
}

beforeAll(async () => {
  b = await mcpBroker()
  agent = await startMcp(b.envFor(b.keys['other-bot']), seen)
}, 60_000)

afterAll(async () => {
  await agent?.close()
  await b?.close()
})

describe('approvals while request_access waits', () => {
  it('reports each approval as progress and returns approved; run_with_access then claims it', async () => {
    const progress: Progress[] = []
    let approvedOnce: () => void = () => {}
    const firstSeen = new Promise<void>((r) => (approvedOnce = r))
    const call = agent.call('request_access', destructive('WAIT-1', { wait_seconds: 60 }), {
      timeout: 90_000,
      onprogress: (p) => {
        progress.push(p)
        if (p.progress === 1) approvedOnce()
      },
    })
    const id = await pendingOf('WAIT-1')
    await approve(id, 'alice')
    await firstSeen // the waiting call saw alice's approval before the second one exists
    await approve(id, 'carol')
    const r = await call
    expect(r.isError).toBeFalsy()
    expect(structured<Access>(r)).toMatchObject({ session_id: id, status: 'approved' })
    expect(structured<{ approvals: { by: string }[] }>(r).approvals.map((a) => a.by)).toEqual([
      'alice',
      'carol',
    ])
    // The last progress note ('2 of 2 approvals: alice, carol') is sent just before the result; the
    // SDK client drops a note that arrives in the same read as its result, so only the notes sent
    // while the call still waits are certain. The result above carries the final count.
    expect(progress.map((p) => p.message)).toEqual(
      expect.arrayContaining(['0 of 2 approvals', '1 of 2 approvals: alice']),
    )
    expect(progress.every((p) => p.total === 2)).toBe(true)

    const run = await agent.call('run_with_access', { session_id: id, command: ['sh', '-c', 'echo ran'] })
    expect(structured<{ stdout: string }>(run).stdout).toBe('ran\n')
    expect(await b.statusOf(id)).toBe('active')
    await agent.call('release_access', { session_id: id })
  }, 120_000)

  it('two commands at once on an approved session both run: it is claimed once', async () => {
    const s = structured<Access>(await agent.call('request_access', destructive('PAR-1')))
    await approve(s.session_id, 'alice')
    await approve(s.session_id, 'carol')
    expect(await b.statusOf(s.session_id)).toBe('approved')
    // Hosts send a model's parallel tool calls at once.
    const runs = await Promise.all(
      [1, 2, 3].map((n) =>
        agent.call('run_with_access', { session_id: s.session_id, command: ['sh', '-c', `echo ${n}`] }),
      ),
    )
    expect(runs.map((r) => [r.isError ?? false, structured<{ stdout: string }>(r)?.stdout])).toEqual([
      [false, '1\n'],
      [false, '2\n'],
      [false, '3\n'],
    ])
    expect(await b.statusOf(s.session_id)).toBe('active')
    await agent.call('release_access', { session_id: s.session_id })
  }, 60_000)

  it('a cancelled wait withdraws the request', async () => {
    const ctl = new AbortController()
    const call = agent.call('request_access', destructive('WAIT-2', { wait_seconds: 60 }), {
      signal: ctl.signal,
      onprogress: () => ctl.abort('the user pressed Esc'),
    })
    await expect(call).rejects.toThrow()
    const id = await (async () => {
      const r = await b.api<{ sessions: { id: string; task: { id: string } }[] }>(
        'GET',
        '/v1/sessions?agent=other-bot&limit=500',
      )
      return r.sessions.find((s) => s.task.id === 'WAIT-2')?.id as string
    })()
    await vi.waitFor(async () => expect(await b.statusOf(id)).toBe('revoked'), { timeout: 10_000 })
  }, 60_000)

  it('access_status waits too, and a denial is a status, not an error', async () => {
    const r = await agent.call('request_access', destructive('WAIT-3'))
    const s = structured<Access>(r)
    expect(s.status).toBe('pending_approval')
    expect(s.message).toMatch(/0 of 2 approvals/)
    const waiting = agent.call('access_status', { session_id: s.session_id, wait_seconds: 30 })
    await b.api('POST', `/v1/sessions/${s.session_id}/approvals`, b.keys.carol, { decision: 'deny' })
    const done = await waiting
    expect(structured<Access>(done)).toMatchObject({ status: 'denied', message: 'Denied by carol.' })
  }, 60_000)
})

describe('tool errors', () => {
  it.each([
    ['wrong types', 'run_with_access', { session_id: 'ses_x', command: 'ls -l' }, /Input validation error/],
    ['missing fields', 'request_access', { environment: 'staging' }, /Input validation error/],
    ['unknown session', 'access_status', { session_id: 'ses_doesnotexist' }, /\(not_found\)/],
    // A misspelt option must not be dropped in silence: the call would run with the default.
    [
      'an unknown field',
      'run_with_access',
      { session_id: 'ses_x', command: ['true'], timeout_second: 600 },
      /Unrecognized key: "timeout_second"/,
    ],
    [
      'an unknown field in the action',
      'request_access',
      { ...destructive('E-4'), action: { method: 'GET', path: '/', bdy: {} } },
      /Unrecognized key: "bdy"/,
    ],
    [
      'a NUL in an argument',
      'run_with_access',
      { session_id: 'ses_x', command: ['echo', 'a\u0000b'] },
      /an argument cannot hold a NUL character at command\[1\]/,
    ],
    [
      'an empty program',
      'run_with_access',
      { session_id: 'ses_x', command: [''] },
      /the program \(the first element\) cannot be empty at command\[0\]/,
    ],
    [
      'an action with an odd method',
      'request_access',
      { ...destructive('E-9'), action: { method: 'DELETE /x', path: '/x' } },
      /an HTTP method such as GET or POST at action\.method/,
    ],
    ['a lone surrogate in a session id', 'access_status', { session_id: 'ses_\ud800' }, /at session_id/],
    ['a session id with a slash', 'release_access', { session_id: 'ses_a/../b' }, /at session_id/],
    ['bad ttl', 'request_access', { ...destructive('E-1'), ttl: 'soon' }, /ttl "soon": expected a duration/],
    // Refused under the tool's own field names, not the broker's (ttl_seconds, task/id).
    [
      'a ttl under a second',
      'request_access',
      { ...destructive('E-7'), ttl: '500ms' },
      /^ttl "500ms": at least one second/,
    ],
    ['a task id with odd unicode', 'request_access', { ...destructive('T\u202e1') }, /at task_id/],
    [
      'an environment with a space',
      'request_access',
      { ...destructive('E-8'), environment: 'st aging' },
      /at environment/,
    ],
    [
      'policy denial',
      'request_access',
      { ...destructive('E-2'), environment: 'prod', operation_class: 'write' },
      /no rule lets other-bot use write on prod.*\(policy_denied\)/,
    ],
  ])('%s is a tool error with the reason', async (_n, tool, args, message) => {
    const r = await agent.call(tool, args)
    expect(r.isError).toBe(true)
    expect(textOf(r)).toMatch(message)
  })

  it.each([
    ['ttl', { ttl: `${'9'.repeat(200_000)}m` }],
    ['environment', { environment: 'e'.repeat(200_000) }],
    ['cwd', { cwd: `/${'d'.repeat(200_000)}` }],
  ])('a huge %s is refused by name, without echoing it back', async (field, over) => {
    const tool = field === 'cwd' ? 'run_with_access' : 'request_access'
    const args =
      field === 'cwd'
        ? { session_id: 'ses_x', command: ['true'], ...over }
        : { ...destructive('E-6'), ...over }
    const r = await agent.call(tool, args)
    expect(r.isError).toBe(true)
    expect(textOf(r)).toMatch(new RegExp(`at ${field}`))
    expect(textOf(r).length).toBeLessThan(1000)
  })

  it('gateway_request on a provider that is not a gateway says so', async () => {
    const s = structured<Access>(
      await agent.call('request_access', { ...destructive('GW-1'), operation_class: 'read' }),
    )
    const r = await agent.call('gateway_request', { session_id: s.session_id, method: 'GET', path: '/x' })
    expect(r.isError).toBe(true)
    expect(textOf(r)).toMatch(/provider internal-api is not a gateway provider/)
    await agent.call('release_access', { session_id: s.session_id })
  })

  it('broker down: a tool error, and the server keeps answering', async () => {
    const down = await startMcp(b.envFor(b.keys['other-bot'], 'http://127.0.0.1:1'), seen)
    try {
      const r = await down.call('request_access', destructive('E-3'))
      expect(r.isError).toBe(true)
      expect(textOf(r)).toMatch(/broker unreachable at http:\/\/127\.0\.0\.1:1/)
      expect((await down.client.listTools()).tools).toHaveLength(5)
    } finally {
      await down.close()
    }
  })
})

describe('closing the server ends every session it opened', () => {
  const openTwo = async (a: McpAgent, task: string) => {
    const read = structured<Access>(
      await a.call('request_access', { ...destructive(`${task}-r`), operation_class: 'read' }),
    )
    const pending = structured<Access>(await a.call('request_access', destructive(`${task}-d`)))
    expect([read.status, pending.status]).toEqual(['active', 'pending_approval'])
    return [read.session_id, pending.session_id]
  }

  it('when the host closes stdin', async () => {
    const host = await startMcp(b.envFor(b.keys['other-bot']), seen)
    const ids = await openTwo(host, 'CLOSE-1')
    await host.close()
    for (const id of ids) expect(await b.statusOf(id)).toBe('revoked')
  })

  it('on SIGTERM', async () => {
    const host = await startMcp(b.envFor(b.keys['other-bot']), seen)
    const ids = await openTwo(host, 'CLOSE-2')
    const pid = host.transport.pid as number
    const exited = new Promise<void>((resolve) => (host.client.onclose = resolve))
    process.kill(pid, 'SIGTERM')
    await exited
    for (const id of ids) expect(await b.statusOf(id)).toBe('revoked')
    await host.close()
  })
})

describe('canary', () => {
  it('no tool result ever held an API key', () => {
    const all = seen.join('\n')
    for (const key of Object.values(b.keys)) expect(all).not.toContain(key)
  })
})
