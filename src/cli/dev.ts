// `airlock dev`: one command for a newcomer. In-memory store, a generated signing key, a demo
// config with freshly generated API keys (printed once), and a curl line that works.
import { randomBytes } from 'node:crypto'
import { sha256Hex } from '../auth/apikeys.js'
import { loadConfigFile, parseConfig } from '../config/load.js'
import { createLogger } from '../log.js'
import { createBroker } from '../server.js'
import { handleSignals } from './serve.js'

const key = (who: string) => `ak_${who}_${randomBytes(18).toString('base64url')}`

export function demoConfig(port: number, keys: Record<string, string>): string {
  const h = (n: string) => sha256Hex(keys[n] as string)
  return `
server: { host: 127.0.0.1, port: ${port}, public_url: "http://127.0.0.1:${port}" }
tokens: { algorithm: EdDSA, default_ttl: 15m, max_ttl: 1h }
environments: [{ name: staging }, { name: prod }]
operation_classes: [{ name: read }, { name: write }, { name: destructive, destructive: true }]
agents:
  - { id: demo-bot, owner: alice, api_key_sha256: ${h('demo-bot')} }
humans:
  - { id: alice, roles: [approver], api_key_sha256: ${h('alice')} }
  - { id: bob, roles: [approver, operator], api_key_sha256: ${h('bob')} }
  - { id: carol, roles: [approver] }
  - { id: ops, roles: [operator, admin], api_key_sha256: ${h('ops')} }
resource_servers:
  - { id: demo-api, audiences: [demo-api], api_key_sha256: ${h('demo-api')} }
providers:
  - { name: demo-api, type: jwt, audience: demo-api }
policies:
  - description: demo-bot works freely in staging
    agents: [demo-bot]
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
audit: { stdout: false }
rate_limits: { per_agent_per_minute: 120 }
`
}

export async function dev(opts: { port: number; config?: string }): Promise<void> {
  const keys = Object.fromEntries(['demo-bot', 'alice', 'bob', 'ops', 'demo-api'].map((w) => [w, key(w)]))
  const config = opts.config
    ? await loadConfigFile(opts.config, process.env, { allowMissingStore: true })
    : parseConfig(demoConfig(opts.port, keys), { baseDir: process.cwd(), env: {}, allowMissingStore: true })
  // A throwaway vault: a random master key, in memory unless the config names a store.
  if (!config.vault.masterKey) config.vault = { backend: 'memory', file: null, masterKey: randomBytes(32) }
  const log = createLogger({ level: process.env['AIRLOCK_LOG_LEVEL'] ?? 'warn' })
  const broker = await createBroker({ config, logger: log, allowMemoryStore: true })
  const address = await broker.app.listen({ host: config.server.host, port: config.server.port })
  handleSignals(broker, log)
  const out = (s = '') => process.stdout.write(`${s}\n`)
  out(`Airlock dev broker on ${address} (in-memory store: everything is forgotten on exit)`)
  if (opts.config) return
  out('')
  out('Demo API keys (shown once):')
  for (const [who, k] of Object.entries(keys)) out(`  ${who.padEnd(9)} ${k}`)
  out('')
  out('Try it:')
  out(
    `  curl -s -X POST ${address}/v1/sessions -H 'authorization: Bearer ${keys['demo-bot']}' -H 'content-type: application/json' \\\n` +
      `    -d '{"environment":"staging","operation_class":"read","provider":"demo-api","task":{"id":"DEMO-1"}}'`,
  )
  out(`  API docs: ${address}/docs`)
}
