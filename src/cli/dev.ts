// `airlock dev`: one command for a newcomer. In-memory store, a generated signing key, a demo
// config with freshly generated API keys (printed once), and a curl line that works.
import { randomBytes } from 'node:crypto'
import { sha256Hex } from '../auth/apikeys.js'
import { loadConfigFile, parseConfig } from '../config/load.js'
import { createLogger } from '../log.js'
import { buildBroker } from '../broker.js'
import { limitHeapGrowth } from './heap.js'
import { handleSignals } from './serve.js'

const key = (who: string) => `ak_${who}_${randomBytes(18).toString('base64url')}`

/** Everyone in the demo config, each with a key: three people can approve, so two-person rules work. */
export const DEMO_PRINCIPALS = ['demo-bot', 'alice', 'bob', 'carol', 'ops', 'demo-api'] as const

/** The shell variable a principal's key is exported as: demo-bot -> DEMO_BOT_KEY. */
export const keyVariable = (who: string) => `${who.toUpperCase().replaceAll('-', '_')}_KEY`

/**
 * A `postgres` provider on DATABASE_URL (an admin URL of a scratch database: Airlock creates and
 * drops login roles in it), so `airlock exec` hands out real, short-lived database logins.
 */
function demoPostgres(databaseUrl: string | undefined): string {
  if (!databaseUrl) return ''
  let database: string
  try {
    database = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, '')) || 'postgres'
  } catch {
    throw new Error('DATABASE_URL is not a URL like postgres://user:password@host:5432/database')
  }
  // One environment: the provider refuses two environments on the same database.
  const env = `{ connection: env:DATABASE_URL, database: ${JSON.stringify(database)} }`
  return `
  - name: demo-db
    type: postgres
    deployment_id: airlock-dev
    environments: { staging: ${env} }`
}

export function demoConfig(port: number, keys: Record<string, string>, databaseUrl?: string): string {
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
  - { id: carol, roles: [approver], api_key_sha256: ${h('carol')} }
  - { id: ops, roles: [operator, admin], api_key_sha256: ${h('ops')} }
resource_servers:
  - { id: demo-api, audiences: [demo-api], api_key_sha256: ${h('demo-api')} }
providers:
  - { name: demo-api, type: jwt, audience: demo-api }${demoPostgres(databaseUrl)}
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
console: { api_key_login: true }
`
}

export async function dev(opts: { port: number; config?: string }): Promise<void> {
  limitHeapGrowth()
  const keys = Object.fromEntries(DEMO_PRINCIPALS.map((w) => [w, key(w)]))
  const databaseUrl = process.env['DATABASE_URL'] || undefined
  const config = opts.config
    ? await loadConfigFile(opts.config, process.env, { allowMissingStore: true })
    : parseConfig(demoConfig(opts.port, keys, databaseUrl), {
        baseDir: process.cwd(),
        env: databaseUrl ? { DATABASE_URL: databaseUrl } : {},
        allowMissingStore: true,
      })
  // A throwaway vault: a random master key, in memory unless the config names a store.
  if (!config.vault.masterKey) config.vault = { backend: 'memory', file: null, masterKey: randomBytes(32) }
  const log = createLogger({ level: process.env['AIRLOCK_LOG_LEVEL'] ?? 'warn' })
  const broker = await buildBroker({ config, logger: log, allowMemoryStore: true })
  const address = await broker.app.listen({ host: config.server.host, port: config.server.port })
  handleSignals(broker, log)
  const out = (s = '') => process.stdout.write(`${s}\n`)
  out(`Airlock dev broker on ${address} (in-memory store: everything is forgotten on exit)`)
  if (opts.config) return
  out('')
  out('Paste into a shell (the demo keys are shown only here):')
  out('')
  out(`export AIRLOCK_URL=${address}`)
  for (const [who, k] of Object.entries(keys)) out(`export ${keyVariable(who)}=${k}`)
  out(`export AIRLOCK_TOKEN=$DEMO_BOT_KEY`)
  out('')
  out('Then, as the agent demo-bot (`airlock` is `npx airlock` until you run `npm link`):')
  out('  airlock whoami; airlock entitlements')
  out('  airlock request --env staging --class read --provider demo-api --task DEMO-1')
  out('  airlock request --env prod --class destructive --provider demo-api --task DEMO-2 --wait')
  out('  AIRLOCK_TOKEN=$BOB_KEY airlock approve ses_...    # and again with $CAROL_KEY (alice owns demo-bot)')
  out(
    databaseUrl
      ? '  (demo-db: PostgreSQL logins on DATABASE_URL)'
      : '  (set DATABASE_URL to an admin URL of a scratch database for a PostgreSQL provider, demo-db)',
  )
  out('')
  out('Or with curl:')
  out(
    `  curl -s -X POST "$AIRLOCK_URL/v1/sessions" -H "authorization: Bearer $DEMO_BOT_KEY" -H 'content-type: application/json' \\\n` +
      `    -d '{"environment":"staging","operation_class":"read","provider":"demo-api","task":{"id":"DEMO-1"}}'`,
  )
  out(`  Console:  ${address}/console (sign in with a person's key above, e.g. $BOB_KEY)`)
  out(`  API docs: ${address}/docs`)
}
