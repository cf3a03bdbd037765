// `airlock mcp` acts as one agent: another agent's sessions do not exist for it, and started with a
// person's key (an operator's, an approver's) it must not lend that person's powers to the model,
// such as reading or revoking every session.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mcpBroker, startMcp, textOf, type McpAgent } from '../support/mcp.js'

const seen: string[] = []
let b: Awaited<ReturnType<typeof mcpBroker>>
let ops: McpAgent
let build: McpAgent

beforeAll(async () => {
  b = await mcpBroker()
  ops = await startMcp(b.envFor(b.keys.ops), seen)
  build = await startMcp(b.envFor(b.keys['build-bot']), seen)
}, 60_000)

afterAll(async () => {
  await ops?.close()
  await build?.close()
  await b?.close()
})

const otherBotSession = async (task: string) =>
  (
    await b.api<{ session: { id: string; status: string } }>('POST', '/v1/sessions', b.keys['other-bot'], {
      environment: 'staging',
      operation_class: 'read',
      provider: 'internal-api',
      task: { id: task },
    })
  ).session

describe("another agent's session", () => {
  it("cannot be read, used or ended through this agent's server", async () => {
    const { id, status } = await otherBotSession('ID-0')
    expect(status).toBe('active')
    for (const [tool, args] of [
      ['access_status', { session_id: id, wait_seconds: 1 }],
      ['run_with_access', { session_id: id, command: ['true'] }],
      ['gateway_request', { session_id: id, method: 'GET', path: '/' }],
      ['release_access', { session_id: id }],
    ] as const) {
      const out = await build.call(tool, args)
      expect(out.isError, tool).toBe(true)
      expect(textOf(out)).toBe('no such session (not_found)')
    }
    expect(await b.statusOf(id)).toBe('active')
    await b.api('DELETE', `/v1/sessions/${id}`, b.keys['other-bot'])
  })
})

describe("a server started with a person's key", () => {
  it('refuses every tool, saying which key it needs, and touches no session', async () => {
    const { id, status } = await otherBotSession('ID-1')
    expect(status).toBe('active')
    for (const [tool, args] of [
      ['access_status', { session_id: id }],
      ['release_access', { session_id: id }],
      ['run_with_access', { session_id: id, command: ['true'] }],
      ['gateway_request', { session_id: id, method: 'GET', path: '/' }],
      [
        'request_access',
        { environment: 'staging', operation_class: 'read', provider: 'internal-api', task_id: 'ID-2' },
      ],
    ] as const) {
      const out = await ops.call(tool, args)
      expect(out.isError, tool).toBe(true)
      expect(textOf(out)).toBe(
        "airlock mcp acts as an agent, but its key is ops's (a human): start it with an agent's API key",
      )
    }
    expect(await b.statusOf(id)).toBe('active')
    expect(seen.join('\n')).not.toContain(id)
    await b.api('DELETE', `/v1/sessions/${id}`, b.keys['other-bot'])
  })
})
