// Test fixtures without any vitest import, so the benchmark can share them.
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { sha256Hex } from '../../src/auth/apikeys.js'
import { redisKeys } from '../../src/store/keys.js'

export const PRINCIPALS = ['build-bot', 'other-bot', 'alice', 'bob', 'carol', 'ops', 'internal-api'] as const
export type PrincipalName = (typeof PRINCIPALS)[number]

export interface YamlOptions {
  extra?: string
  extraAgents?: string
  /** More entries of `humans:` (YAML lines, each starting with `  - `). */
  extraHumans?: string
  perMinute?: number
  /** A `slack` section; its secrets come from env SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET. */
  slack?: { apiUrl: string; channel?: string }
  /** An `approvals` section, e.g. { timeout: '5m', claimWindow: '2m' }. */
  approvals?: { timeout?: string; claimWindow?: string }
  /**
   * server.metrics as YAML (e.g. `operator`, `{ listen: "127.0.0.1:9464" }`); null leaves it out (the
   * default). Tests read /metrics without a credential, so it is `public` unless they say otherwise.
   */
  metrics?: string | null
  /** More entries of the providers list (YAML, indented by two spaces). */
  providers?: string
  /** More keys of the `store` mapping (YAML flow entries, e.g. `replica_acks: 1`). */
  store?: string
  /** Replaces `redis_url: env:REDIS_URL` (e.g. `sentinel: {...}` or `cluster: {...}`). */
  redis?: string
  /** For a broker process: its port and a signing key file (tokens.signing_key). */
  port?: number
  signingKeyPath?: string
  /** tokens.max_ttl (default 1h). */
  maxTtl?: string
  /** server.public_url (default http://airlock.test). */
  publicUrl?: string
  /** More keys of a configured human's mapping (YAML flow entries, e.g. `email: carol@example.com`). */
  humanFields?: Partial<Record<'alice' | 'bob' | 'carol' | 'ops', string>>
}

export function testConfigYaml(prefix: string, keys: Record<string, string>, o: YamlOptions = {}): string {
  const h = (n: string) => sha256Hex(keys[n] as string)
  const more = (n: keyof NonNullable<YamlOptions['humanFields']>) =>
    o.humanFields?.[n] ? `, ${o.humanFields[n]}` : ''
  return `
server: { ${o.port === undefined ? '' : `port: ${o.port}, `}public_url: "${o.publicUrl ?? 'http://airlock.test'}", body_limit_bytes: 16384${o.metrics === null ? '' : `, metrics: ${o.metrics ?? 'public'}`} }
store: { ${o.redis ?? 'redis_url: env:REDIS_URL'}, key_prefix: "${prefix}", retention: 1h${o.store ? `, ${o.store}` : ''} }
tokens: { default_ttl: 15m, max_ttl: ${o.maxTtl ?? '1h'}${o.signingKeyPath ? `, signing_key: "file:${o.signingKeyPath}"` : ''} }
environments: [{ name: staging }, { name: prod }]
operation_classes: [{ name: read }, { name: write }, { name: destructive, destructive: true }]
agents:
  - { id: build-bot, owner: alice, api_key_sha256: ${h('build-bot')} }
  - { id: other-bot, owner: bob, api_key_sha256: ${h('other-bot')} }
${o.extraAgents ?? ''}
humans:
  - { id: alice, roles: [approver], slack_user_id: U0ALICE, api_key_sha256: ${h('alice')}${more('alice')} }
  - { id: bob, roles: [approver, operator], slack_user_id: U0BOB, api_key_sha256: ${h('bob')}${more('bob')} }
  - { id: carol, roles: [approver], slack_user_id: U0CAROL, api_key_sha256: ${h('carol')}${more('carol')} }
  - { id: ops, roles: [operator, admin], api_key_sha256: ${h('ops')}${more('ops')} }
${o.extraHumans ?? ''}
resource_servers:
  - { id: internal-api, audiences: ["https://api.internal.example"], api_key_sha256: ${h('internal-api')} }
providers:
  - { name: internal-api, type: jwt, audience: "https://api.internal.example" }
  - { name: other-api, type: jwt }
${o.providers ?? ''}
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
${slackYaml(o)}
${o.extra ?? ''}`
}

function slackYaml(o: YamlOptions): string {
  const out: string[] = []
  if (o.slack) {
    out.push(
      'slack:',
      '  bot_token: env:SLACK_BOT_TOKEN',
      '  signing_secret: env:SLACK_SIGNING_SECRET',
      `  channel: ${o.slack.channel ?? 'C0APPROVALS'}`,
      `  api_url: "${o.slack.apiUrl}"`,
    )
  }
  if (o.approvals) {
    out.push('approvals:')
    if (o.approvals.timeout) out.push(`  timeout: ${o.approvals.timeout}`)
    if (o.approvals.claimWindow) out.push(`  claim_window: ${o.approvals.claimWindow}`)
  }
  return out.join('\n')
}

export const newKeys = (): Record<PrincipalName, string> =>
  Object.fromEntries(
    PRINCIPALS.map((p) => [p, `ak_${p}_${randomBytes(18).toString('base64url')}`]),
  ) as Record<PrincipalName, string>

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

export const sessionBody = (over: Record<string, unknown> = {}) => ({
  environment: 'staging',
  operation_class: 'read',
  provider: 'internal-api',
  task: { id: 'JIRA-123', description: 'rotate staging cache' },
  ...over,
})
