// `airlock mcp` as an agent host runs it: a child process spoken to over stdio by the SDK's client,
// and a broker process for it on the test Redis.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { inject } from 'vitest'
import { freePort, startBrokerProcess, tempDir, writeSigningKey } from './broker-process.js'
import { deletePrefix, newKeys, testConfigYaml } from './fixtures.js'

export interface McpAgent {
  client: Client
  transport: StdioClientTransport
  stderr: string[]
  /** Calls a tool; the whole result is also appended to `seen` (for canary searches). */
  call(name: string, args: Record<string, unknown>, opts?: RequestOptions): Promise<CallToolResult>
  close(): Promise<void>
}

export async function startMcp(env: Record<string, string>, seen: string[]): Promise<McpAgent> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined),
  )
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', 'src/cli/main.ts', 'mcp'],
    env: { ...base, ...env },
    stderr: 'pipe',
  })
  const stderr: string[] = []
  transport.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()))
  const client = new Client({ name: 'airlock-test', version: '1.0.0' })
  await client.connect(transport)
  return {
    client,
    transport,
    stderr,
    async call(name, args, opts) {
      const r = (await client.callTool({ name, arguments: args }, undefined, opts)) as CallToolResult
      seen.push(JSON.stringify(r))
      return r
    },
    close: () => client.close(),
  }
}

/** The text of a tool result. */
export const textOf = (r: CallToolResult): string =>
  r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n')

/** A broker process on the test Redis for MCP tests, with operator helpers. */
export async function mcpBroker(
  o: {
    providers?: string
    /** More environment for the broker (secrets its providers reference with `env:`). */
    env?: Record<string, string>
    /** server.public_url is the broker's own address (gateway URLs in grants then work). */
    publicUrlIsOwn?: boolean
    /** An `approvals` section, e.g. { timeout: '5m', claimWindow: '2m' }. */
    approvals?: { timeout?: string; claimWindow?: string }
  } = {},
) {
  const redisUrl = inject('redisUrl')
  const prefix = `airlock-test:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}mcp:`
  const keys = newKeys()
  const dir = tempDir()
  const signing = writeSigningKey(dir)
  const port = await freePort()
  let yaml = testConfigYaml(prefix, keys, {
    ...(o.providers !== undefined && { providers: o.providers }),
    ...(o.approvals !== undefined && { approvals: o.approvals }),
    port,
    signingKeyPath: signing.path,
  })
  if (o.publicUrlIsOwn) yaml = yaml.replace('"http://airlock.test"', `"http://127.0.0.1:${port}"`)
  const config = join(dir, 'airlock.yaml')
  writeFileSync(config, yaml)
  const broker = await startBrokerProcess(config, { ...o.env, REDIS_URL: redisUrl })
  const api = async <T>(method: string, path: string, who: string = keys.ops, body?: unknown): Promise<T> =>
    (await (
      await fetch(`${broker.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${who}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      })
    ).json()) as T
  return {
    broker,
    keys,
    dir,
    api,
    statusOf: async (id: string) => (await api<{ status: string }>('GET', `/v1/sessions/${id}`)).status,
    /** The environment `airlock mcp` runs with as this key. */
    envFor: (key: string, url = broker.url) => ({
      AIRLOCK_URL: url,
      AIRLOCK_TOKEN: key,
      HOME: dir,
      XDG_CONFIG_HOME: join(dir, '.config'),
    }),
    async close() {
      await broker.stop()
      await deletePrefix(redisUrl, prefix)
    },
  }
}
