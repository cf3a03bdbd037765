// Gateway throughput and added latency, side by side in one run: the same local upstream behind
// `airlock serve` (/gw/{provider}: token check in Redis, classification, audit, redaction) and
// behind a bare forwarding proxy (the same undici client, no checks), for an HTTP GET and a small
// GraphQL query. Not a test: it asserts nothing, it reports.
// Run: `npm run bench:gateway -- [--duration 5] [--connections 32]`. REDIS_URL picks a Redis,
// otherwise a private redis-server is started; only a fresh `airlock-bench:<random>:` prefix is touched.
import autocannon from 'autocannon'
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { sha256Hex } from '../src/auth/apikeys.js'
import { deletePrefix } from '../test/support/fixtures.js'
import { freePort, redisServer, type RedisServer } from '../test/support/redis-server.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '1' },
  },
})
const DURATION = Number(args.duration)
const CONNECTIONS = Number(args.connections)
const WARMUP = Number(args.warmup)
const log = (s: string) => process.stderr.write(`bench: ${s}\n`)
const QUERY = JSON.stringify({ query: 'query Me { me { id email } }' })

const children: ChildProcess[] = []
function start(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(c)
  return new Promise((ok, fail) => {
    let err = ''
    c.stderr?.on('data', (b: Buffer) => (err += b.toString()))
    c.stdout?.on('data', (b: Buffer) => {
      // The broker logs "Server listening" on stderr; the helpers print "ready".
      if (b.toString().includes('ready')) ok(c)
    })
    c.stderr?.on('data', (b: Buffer) => {
      if (b.toString().includes('Server listening')) ok(c)
    })
    c.once('exit', (code) => fail(new Error(`${args.join(' ')} exited ${code}: ${err.slice(-500)}`)))
  })
}

interface Result {
  name: string
  rps: number
  p50: number
  p99: number
  non2xx: number
}

async function cannon(
  name: string,
  url: string,
  method: 'GET' | 'POST',
  token: string | null,
  seconds = DURATION,
) {
  const r = await autocannon({
    url,
    method,
    connections: CONNECTIONS,
    duration: seconds,
    headers: {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(method === 'POST' && { 'content-type': 'application/json' }),
    },
    ...(method === 'POST' && { body: QUERY }),
  })
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx } as Result
}

async function main() {
  let own: RedisServer | null = null
  const redisUrl = process.env['REDIS_URL'] ?? ((own = await redisServer()), own.url)
  const prefix = `airlock-bench:${randomBytes(6).toString('hex')}:`
  const tmp = await mkdtemp(join(tmpdir(), 'airlock-bench-gw-'))
  try {
    const [upPort, proxyPort, brokerPort] = [await freePort(), await freePort(), await freePort()]
    const upstream = `http://127.0.0.1:${upPort}`
    await start(['bench/gateway-servers.ts', 'upstream', String(upPort)])
    await start(['bench/gateway-servers.ts', 'proxy', String(proxyPort), upstream])

    const keyFile = join(tmp, 'signing.pem')
    await writeFile(
      keyFile,
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
    )
    const botKey = `ak_bench-bot_${randomBytes(18).toString('base64url')}`
    const config = join(tmp, 'airlock.yaml')
    await writeFile(
      config,
      `
server: { host: 127.0.0.1, port: ${brokerPort}, public_url: "http://127.0.0.1:${brokerPort}" }
store: { redis_url: ${JSON.stringify(redisUrl)}, key_prefix: ${JSON.stringify(prefix)} }
tokens: { algorithm: EdDSA, signing_key: ${JSON.stringify(`file:${keyFile}`)} }
environments: [{ name: staging }]
operation_classes: [{ name: read }]
agents:
  - { id: bench-bot, api_key_sha256: ${sha256Hex(botKey)} }
providers:
  - name: bench-http
    type: gateway
    upstream: "${upstream}"
    environments: { staging: { credential: env:BENCH_UPSTREAM_TOKEN } }
    operation_classes: { read: { http: ["GET /api/**"] } }
  - name: bench-gql
    type: gateway
    upstream: "${upstream}/graphql"
    graphql: true
    environments: { staging: { credential: env:BENCH_UPSTREAM_TOKEN, arguments: { environmentId: [env-1] } } }
    operation_classes: { read: { queries: ["me", "project"] } }
policies:
  - { description: bench, agents: [bench-bot], environments: [staging], operation_classes: [read], providers: ["*"], max_ttl: 1h }
audit: { stdout: false }
rate_limits: { per_agent_per_minute: 1000000 }
`,
    )
    const env: NodeJS.ProcessEnv = { ...process.env, BENCH_UPSTREAM_TOKEN: 'bench-upstream-token' }
    delete env['AIRLOCK_CONFIG']
    await start(['src/cli/main.ts', 'serve', '--config', config], env)
    const broker = `http://127.0.0.1:${brokerPort}`
    const token = async (provider: string) => {
      const r = await fetch(`${broker}/v1/sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${botKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          environment: 'staging',
          operation_class: 'read',
          provider,
          task: { id: 'BENCH-GW' },
          ttl_seconds: 3600,
        }),
      })
      return ((await r.json()) as { grant: { token: string } }).grant.token
    }
    const [httpToken, gqlToken] = [await token('bench-http'), await token('bench-gql')]

    const results: Result[] = []
    const pair = async (what: string, method: 'GET' | 'POST', bare: string, gw: string, tok: string) => {
      if (WARMUP > 0) {
        await cannon('warmup', bare, method, null, WARMUP)
        await cannon('warmup', gw, method, tok, WARMUP)
      }
      log(`${what}: bare proxy, ${DURATION} s, ${CONNECTIONS} connections`)
      const b = await cannon(`${what} bare proxy`, bare, method, null)
      log(`${what}: gateway`)
      const g = await cannon(`${what} gateway`, gw, method, tok)
      results.push(b, g)
      return { what, ratio: g.rps / Math.max(1, b.rps), addedP99: g.p99 - b.p99 }
    }
    const ratios = [
      await pair(
        'HTTP GET',
        'GET',
        `http://127.0.0.1:${proxyPort}/api/items`,
        `${broker}/gw/bench-http/api/items`,
        httpToken,
      ),
      await pair(
        'GraphQL query',
        'POST',
        `http://127.0.0.1:${proxyPort}/graphql`,
        `${broker}/gw/bench-gql`,
        gqlToken,
      ),
    ]
    console.log('\n| scenario | req/s | p50 ms | p99 ms | non-2xx |\n|---|---:|---:|---:|---:|')
    for (const r of results)
      console.log(`| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.non2xx} |`)
    console.log('')
    for (const r of ratios)
      console.log(
        `${r.what}: gateway/bare throughput ${r.ratio.toFixed(2)}x, p99 added ${r.addedP99.toFixed(1)} ms`,
      )
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
    await deletePrefix(redisUrl, prefix).catch(() => {})
    await own?.stop()
    await rm(tmp, { recursive: true, force: true })
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  },
)
