// Builds a real broker (real Redis, real config loader) for a test and cleans up only its own keys.
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { inject } from 'vitest'
import { sha256Hex } from '../src/auth/apikeys.js'
import type { Clock } from '../src/clock.js'
import { parseConfig } from '../src/config/load.js'
import { createLogger } from '../src/log.js'
import { createBroker, type BrokerOptions, type RunningBroker } from '../src/server.js'
import { redisKeys } from '../src/store/keys.js'
import { generateSigningKey, type SigningKey } from '../src/tokens/keys.js'

export const PRINCIPALS = ['build-bot', 'other-bot', 'alice', 'bob', 'carol', 'ops', 'internal-api'] as const
export type PrincipalName = (typeof PRINCIPALS)[number]

export interface YamlOptions {
  extra?: string
  extraAgents?: string
  perMinute?: number
}

export function testConfigYaml(prefix: string, keys: Record<string, string>, o: YamlOptions = {}): string {
  const h = (n: string) => sha256Hex(keys[n] as string)
  return `
server: { public_url: "http://airlock.test", body_limit_bytes: 16384 }
store: { redis_url: env:REDIS_URL, key_prefix: "${prefix}", retention: 1h }
tokens: { default_ttl: 15m, max_ttl: 1h }
environments: [{ name: staging }, { name: prod }]
operation_classes: [{ name: read }, { name: write }, { name: destructive, destructive: true }]
agents:
  - { id: build-bot, owner: alice, api_key_sha256: ${h('build-bot')} }
  - { id: other-bot, owner: bob, api_key_sha256: ${h('other-bot')} }
${o.extraAgents ?? ''}
humans:
  - { id: alice, roles: [approver], slack_user_id: U0ALICE, api_key_sha256: ${h('alice')} }
  - { id: bob, roles: [approver, operator], slack_user_id: U0BOB, api_key_sha256: ${h('bob')} }
  - { id: carol, roles: [approver], slack_user_id: U0CAROL, api_key_sha256: ${h('carol')} }
  - { id: ops, roles: [operator, admin], api_key_sha256: ${h('ops')} }
resource_servers:
  - { id: internal-api, audiences: ["https://api.internal.example"], api_key_sha256: ${h('internal-api')} }
providers:
  - { name: internal-api, type: jwt, audience: "https://api.internal.example" }
  - { name: other-api, type: jwt }
policies:
  - description: bots work freely in staging
    agents: ["*-bot"]
    environments: [staging]
    operation_classes: [read, write]
    providers: ["*"]
    max_ttl: 30m
  - description: reading prod needs one engineer
    agents: ["*"]
    environments: [prod]
    operation_classes: [read]
    providers: ["*"]
    approvals: 1
  - description: anything destructive needs two engineers
    agents: ["*"]
    environments: ["*"]
    operation_classes: [destructive]
    providers: ["*"]
    approvals: 2
    approvers: [alice, bob, carol]
    max_ttl: 15m
  - description: build-bot never destroys prod
    effect: deny
    agents: [build-bot]
    environments: [prod]
    operation_classes: [destructive]
    providers: ["*"]
audit: { stdout: true }
rate_limits: { per_agent_per_minute: ${o.perMinute ?? 100000} }
${o.extra ?? ''}`
}

export const newKeys = (): Record<PrincipalName, string> =>
  Object.fromEntries(
    PRINCIPALS.map((p) => [p, `ak_${p}_${randomBytes(18).toString('base64url')}`]),
  ) as Record<PrincipalName, string>

export class TestClock implements Clock {
  constructor(public ms = Date.now()) {}
  now() {
    return this.ms
  }
  advance(ms: number) {
    this.ms += ms
  }
}

/** Collects every line written to it, for assertions and canary scans. */
export class LineSink extends Writable {
  lines: string[] = []
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.lines.push(...chunk.toString().split('\n').filter(Boolean))
    cb()
  }
}

export interface TestBroker {
  broker: RunningBroker
  app: RunningBroker['app']
  keys: Record<PrincipalName, string>
  prefix: string
  redisUrl: string
  audit: string[]
  logs: LineSink
  signingKey: SigningKey
  as(p: PrincipalName): { authorization: string }
  close(): Promise<void>
}

export async function deletePrefix(url: string, prefix: string) {
  const r = new Redis(url, { lazyConnect: true })
  await r.connect()
  const pattern = redisKeys(prefix).pattern
  let cursor = '0'
  do {
    const [next, found] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    if (found.length > 0) await r.del(...found)
  } while (cursor !== '0')
  r.disconnect()
}

export interface TestBrokerOptions extends Partial<Omit<BrokerOptions, 'config'>> {
  redisUrl?: string
  yaml?: YamlOptions
  prefix?: string
  keys?: Record<PrincipalName, string>
}

export async function testBroker(o: TestBrokerOptions = {}): Promise<TestBroker> {
  const redisUrl = o.redisUrl ?? inject('redisUrl')
  const prefix = o.prefix ?? `airlock-test:${randomBytes(6).toString('hex')}:`
  const keys = o.keys ?? newKeys()
  const config = parseConfig(testConfigYaml(prefix, keys, o.yaml), {
    baseDir: process.cwd(),
    env: { REDIS_URL: redisUrl },
  })
  const logs = new LineSink()
  const audit: string[] = []
  const signingKey = o.signingKey ?? (await generateSigningKey('EdDSA'))
  const { redisUrl: _r, yaml: _y, prefix: _p, keys: _k, ...brokerOpts } = o
  const broker = await createBroker({
    config,
    sweeper: false,
    logger: createLogger({ level: 'info', destination: logs }),
    auditOut: (line) => audit.push(...line.split('\n')),
    ...brokerOpts,
    signingKey,
  })
  return {
    broker,
    app: broker.app,
    keys,
    prefix,
    redisUrl,
    audit,
    logs,
    signingKey,
    as: (p) => ({ authorization: `Bearer ${keys[p]}` }),
    async close() {
      await broker.close()
      await deletePrefix(redisUrl, prefix)
    },
  }
}

export const sessionBody = (over: Record<string, unknown> = {}) => ({
  environment: 'staging',
  operation_class: 'read',
  provider: 'internal-api',
  task: { id: 'JIRA-123', description: 'rotate staging cache' },
  ...over,
})

type Injectable = { inject: TestBroker['app']['inject'] }

/** Shorthand for JSON calls as a principal. */
export function client(app: Injectable, keys: Record<string, string>) {
  const call = async (
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    who: string | null,
    payload?: unknown,
  ) => {
    const headers: Record<string, string> = who ? { authorization: `Bearer ${keys[who] ?? who}` } : {}
    const r = await app.inject({
      method,
      url,
      headers,
      ...(payload !== undefined && { payload: payload as object }),
    })
    return {
      status: r.statusCode,
      body: r.body ? (JSON.parse(r.body) as Record<string, any>) : {},
      headers: r.headers,
    }
  }
  return {
    get: (url: string, who: string | null) => call('GET', url, who),
    post: (url: string, who: string | null, payload: unknown = {}) => call('POST', url, who, payload),
    del: (url: string, who: string | null) => call('DELETE', url, who),
    /** Requests a session as `agent` and expects a grant. */
    async issue(agent: string, over: Record<string, unknown> = {}) {
      const r = await call('POST', '/v1/sessions', agent, sessionBody(over))
      if (r.status !== 201) throw new Error(`issue failed: ${r.status} ${JSON.stringify(r.body)}`)
      return r.body as { session: Record<string, any>; grant: { token: string; expires_at: string } }
    },
  }
}
