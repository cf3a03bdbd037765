// `airlock mcp` acts as one agent: started with a person's key (an operator's, an approver's) it
// must not lend that person's powers to the model, such as reading or revoking every session.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mcpBroker, startMcp, textOf, type McpAgent } from '../support/mcp.js'

const seen: string[] = []
let b: Awaited<ReturnType<typeof mcpBroker>>
let ops: McpAgent

beforeAll(async () => {
  b = await mcpBroker()
  ops = await startMcp(b.envFor(b.keys.ops), seen)
}, 60_000)

afterAll(async () => {
  await ops?.close()
  await b?.close()
})

describe("a server started with a person's key", () => {
  it('refuses every tool, saying which key it needs, and touches no session', async () => {
    const r = await b.api<{ session: { id: string; status: string } }>(
      'POST',
      '/v1/sessions',
      b.keys['other-bot'],
      { environment: 'staging', operation_class: 'read', provider: 'internal-api', task: { id: 'ID-1' } },
    )
    const id = r.session.id
    expect(r.session.status).toBe('active')
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
