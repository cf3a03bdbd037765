// Per-component cost of a gateway call, in-process: the broker's CPU time per operation for the
// whole call (through fastify inject, whose own cost the /healthz baseline shows, so the difference
// is the gateway's; the agent's socket is left out) and for each step on its own: the
// session check (token and Redis), the audit event, classification, the upstream request and the
// redaction. Process CPU time is what a busy shared machine disturbs least.
// Run: `tsx bench/gateway-micro.ts [--n 4000] [--concurrency 32]`. REDIS_URL picks a Redis,
// otherwise a private redis-server is started; only a fresh prefix is touched.
import { spawn, type ChildProcess } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { isGateway } from '../providers/gateway/provider.js'
import { parseConfig } from '../src/config/load.js'
import { checkRequest } from '../src/gateway/check.js'
import { containPath, type Contained } from '../src/gateway/path.js'
import { redactBuffer, redactStream, searchForms } from '../src/gateway/redact.js'
import { credentialForms } from '../src/gateway/secret-forms.js'
import { createLogger } from '../src/log.js'
import { buildBroker } from '../src/broker.js'
import { generateSigningKey } from '../src/tokens/keys.js'
import { deletePrefix, newKeys, testConfigYaml } from '../test/support/fixtures.js'
import { freePort, redisServer, type RedisServer } from '../test/support/redis-server.js'
import { gatewayProvidersYaml } from './lib/gateway-providers.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '32' },
  },
})
const N = Number(args.n)
const CONC = Number(args.concurrency)
const QUERY = JSON.stringify({ query: 'query Me { me { id email } }' })

let own: RedisServer | null = null
const url = process.env['REDIS_URL'] ?? ((own = await redisServer()), own.url)
const prefix = `airlock-bench-gw-micro:${Date.now()}:`
const upPort = await freePort()
const upstream: ChildProcess = spawn(
  process.execPath,
  ['--import', 'tsx', 'bench/gateway-servers.ts', 'upstream', String(upPort)],
  { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
)
await new Promise<void>((ok) => upstream.stdout?.once('data', () => ok()))

const keys = newKeys()
const providers = `\n${gatewayProvidersYaml(`http://127.0.0.1:${upPort}`)}`
process.env['BENCH_UPSTREAM_TOKEN'] = 'bench-upstream-token'
const config = parseConfig(
  testConfigYaml(prefix, keys, { providers }).replace('audit: { stdout: true }', 'audit: { stdout: false }'),
  { baseDir: ROOT, env: { REDIS_URL: url } },
)
const broker = await buildBroker(
  { config, logger: createLogger({ level: 'warn' }) },
  { sweeper: false, signingKey: await generateSigningKey('EdDSA') },
)
const app = broker.app
const b = app.broker

const rows: { name: string; cpu: number; wall: number }[] = []
const time = async (name: string, f: () => Promise<unknown> | unknown, n = N) => {
  for (let i = 0; i < 300; i++) await f()
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  for (let i = 0; i < n / CONC; i++) await Promise.all(Array.from({ length: CONC }, f))
  const wall = ((performance.now() - t0) * 1000) / n
  const c = process.cpuUsage(cpu0)
  rows.push({ name, cpu: (c.user + c.system) / n, wall })
  process.stderr.write('.')
}

const grant = async (provider: string) => {
  const r = await app.inject({
    method: 'POST',
    url: '/v1/sessions',
    headers: { authorization: `Bearer ${keys['build-bot']}` },
    payload: { environment: 'staging', operation_class: 'read', provider, task: { id: 'BENCH-GW' } },
  })
  return r.json<{ grant: { token: string } }>().grant.token
}
const [httpToken, gqlToken] = [await grant('bench-http'), await grant('bench-gql')]
const ok = (r: { statusCode: number; body: string }) => {
  if (r.statusCode !== 200) throw new Error(`${r.statusCode} ${r.body}`)
}

await time('inject baseline: GET /healthz', async () => app.inject({ method: 'GET', url: '/healthz' }))
await time('gateway call via inject: HTTP GET', async () =>
  ok(
    await app.inject({
      method: 'GET',
      url: '/gw/bench-http/api/items',
      headers: { authorization: `Bearer ${httpToken}` },
    }),
  ),
)
await time('gateway call via inject: GraphQL', async () =>
  ok(
    await app.inject({
      method: 'POST',
      url: '/gw/bench-gql',
      headers: { authorization: `Bearer ${gqlToken}`, 'content-type': 'application/json' },
      payload: QUERY,
    }),
  ),
)
await time('sessions.authorize()', () => b.sessions.authorize(httpToken))
await time('  tokens.verify() (cached)', () => b.tokens.verify(httpToken))
const found = await b.sessions.authorize(httpToken)
if (!found) throw new Error('the bench session is not active')
const scope = {
  agent: found.rec.agent,
  environment: found.rec.environment,
  provider: found.rec.provider,
  task_id: found.claims.task,
}
await time('  store.introspect()', () => b.store.introspect(found.rec.id, scope, Date.now()))
await time('audit.record(gateway.forwarded)', () =>
  b.audit.record({
    type: 'gateway.forwarded',
    actor: 'build-bot',
    session_id: found.rec.id,
    details: {
      provider: 'bench-http',
      environment: 'staging',
      operation_class: 'read',
      method: 'GET',
      path: '/api/items',
      operations: [],
      fields: [],
      status: 200,
    },
  }),
)
const http = b.runtime().providers.get('bench-http')
const gql = b.runtime().providers.get('bench-gql')
if (!isGateway(http) || !isGateway(gql)) throw new Error('the bench providers are not gateways')
const target = { provider: 'bench-http', environment: 'staging', operationClass: 'read' }
const contained = containPath('/gw/bench-http/api/items', '/gw/bench-http') as Contained
await time('checkRequest(): HTTP rule', () =>
  checkRequest(http.config, target, { method: 'GET', contentType: '', body: null, contained }),
)
const root = containPath('/gw/bench-gql', '/gw/bench-gql') as Contained
const body = Buffer.from(QUERY)
await time('checkRequest(): GraphQL document', () =>
  checkRequest(
    gql.config,
    { ...target, provider: 'bench-gql' },
    { method: 'POST', contentType: 'application/json', body, contained: root },
  ),
)
await time('undici: upstream GET and body', async () => {
  const r = await http.dispatcher.request({
    origin: `http://127.0.0.1:${upPort}`,
    path: '/api/items',
    method: 'GET',
    headers: { authorization: 'Bearer bench-upstream-token', 'accept-encoding': 'identity' },
  })
  await r.body.arrayBuffer()
})
const answer = Buffer.from(JSON.stringify({ items: [{ id: 'item-1', name: 'first' }] }))
// Every form the gateway looks for: as it is, JSON, URL-encoded and base64 (secret-forms.ts).
const secrets = credentialForms('bench-upstream-token')
await time('redactBuffer() of a small answer', () => redactBuffer(answer, searchForms(secrets)))
await time('redactStream() of a small answer', async () => {
  const s = redactStream(searchForms(secrets))
  const done = new Promise((ok) => s.on('data', () => {}).once('end', ok))
  s.end(answer)
  await done
})

process.stderr.write('\n')
console.log(`| step (${CONC} at a time) | CPU µs/op | wall µs/op |\n|---|---:|---:|`)
for (const r of rows) console.log(`| ${r.name} | ${r.cpu.toFixed(1)} | ${r.wall.toFixed(1)} |`)
await broker.close()
await deletePrefix(url, prefix)
upstream.kill('SIGTERM')
await own?.stop()
process.exit(0)
