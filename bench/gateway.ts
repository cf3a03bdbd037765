// Gateway throughput and added latency, side by side in one run: the same local upstream behind
// `airlock serve` (/gw/{provider}: token check in Redis, classification, audit, redaction) and
// behind a bare forwarding proxy (the same undici client, no checks), for an HTTP GET and a small
// GraphQL query. A third target, the floor, is the bare proxy plus only the Redis work that any
// gateway checking revocation per call and auditing it must do (bench/gateway-servers.ts): how
// close to the bare proxy such a gateway can come on this machine. Not a test: it asserts nothing, it reports. Besides throughput and latency it
// reports the CPU time the serving process (proxy or broker) spent per request, which a busy shared
// machine disturbs far less than throughput, and the Redis commands each gateway call cost.
// Run: `npm run bench:gateway -- [--duration 5] [--connections 32] [--only http|graphql]
// [--rounds 3] [--rate N] [--cpu-prof DIR] [--compare CHECKOUT] [--no-build]`. The broker runs
// compiled, from dist/ (`npm run build` first, unless --no-build). --rounds repeats each
// measurement, the targets taking turns, and reports medians. --rate sends N requests a second
// instead of as many as the server takes: CPU per request at a load the machine can carry.
// --cpu-prof writes the broker's V8 CPU profile into DIR when the run ends (`tsx
// bench/cpu-profile.ts FILE` lists where the time went). --compare also runs the broker of another
// checkout (with node_modules) in the same rounds, to compare a change with the code before it on
// a busy machine. REDIS_URL picks a Redis, otherwise a private redis-server is
// started (Redis commands per request are exact only then); only a fresh `airlock-bench:<random>:`
// prefix is touched.
import autocannon from 'autocannon'
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { Redis } from 'ioredis'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { deletePrefix } from '../test/support/fixtures.js'
import { freePort, redisServer, type RedisServer } from '../test/support/redis-server.js'
import { gatewayProvidersYaml } from './lib/gateway-providers.js'
import { benchConfigHead } from './lib/replicas.js'
import { build } from './lib/resources.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '3' },
    only: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    rate: { type: 'string' },
    'cpu-prof': { type: 'string' },
    compare: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
  },
})
const DURATION = Number(args.duration)
const CONNECTIONS = Number(args.connections)
const WARMUP = Number(args.warmup)
const ONLY = args.only
if (ONLY !== undefined && ONLY !== 'http' && ONLY !== 'graphql') throw new Error('--only is http or graphql')
const PROFILE = args['cpu-prof'] === undefined ? null : resolve(args['cpu-prof'])
const ROUNDS = Math.max(1, Number(args.rounds))
const RATE = args.rate === undefined ? null : Number(args.rate)
const COMPARE = args.compare === undefined ? null : resolve(args.compare)
const log = (s: string) => process.stderr.write(`bench: ${s}\n`)
const QUERY = JSON.stringify({ query: 'query Me { me { id email } }' })

const children: ChildProcess[] = []
/**
 * Starts a script: a bench helper from its TypeScript source, the broker as users run it
 * (`bin/airlock.js`, compiled: what tsx adds to every function would be measured too otherwise).
 */
function start(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  nodeArgs: string[] = [],
  cwd = ROOT,
): Promise<ChildProcess> {
  const loader = args[0]?.endsWith('.ts') ? ['--import', 'tsx'] : []
  const c = spawn(process.execPath, [...nodeArgs, ...loader, ...args], {
    cwd,
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
  /** CPU time of the serving process per request (µs), when /proc can tell. */
  cpuUs: number | null
  /** Redis's CPU time per request (µs): Redis shares the machine's cores. */
  redisCpuUs: number
  /** Redis commands per request, by command. */
  redis: Record<string, number>
}

/** User + system CPU time of a process in seconds (Linux /proc), or null elsewhere. */
async function cpuSeconds(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime (fields 14 and 15 of the whole line) in clock ticks, 100 a second on Linux.
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return null
  }
}

/** Calls per Redis command so far (INFO commandstats). */
/** Redis's user + system CPU time so far, in seconds (INFO cpu). */
async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu')
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0)
  return field('used_cpu_user') + field('used_cpu_sys')
}

async function redisCalls(redis: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    out.set(m[1] as string, Number(m[2]))
  return out
}

async function cannon(
  name: string,
  url: string,
  method: 'GET' | 'POST',
  token: string | null,
  seconds = DURATION,
  measured?: { server: ChildProcess; redis: Redis },
): Promise<Result> {
  const cpuBefore = await cpuSeconds(measured?.server.pid)
  const callsBefore = measured ? await redisCalls(measured.redis) : new Map<string, number>()
  const redisBefore = measured ? await redisCpu(measured.redis) : 0
  const r = await autocannon({
    url,
    method,
    connections: CONNECTIONS,
    duration: seconds,
    ...(RATE !== null && { overallRate: RATE }),
    headers: {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(method === 'POST' && { 'content-type': 'application/json' }),
    },
    ...(method === 'POST' && { body: QUERY }),
  })
  const cpuAfter = await cpuSeconds(measured?.server.pid)
  const redis: Record<string, number> = {}
  if (measured)
    for (const [cmd, n] of await redisCalls(measured.redis)) {
      // The bench's own INFO call is not the gateway's.
      const d = n - (callsBefore.get(cmd) ?? 0) - (cmd === 'info' ? 1 : 0)
      if (d / Math.max(1, r.requests.total) >= 0.005) redis[cmd] = d / Math.max(1, r.requests.total)
    }
  const redisCpuUs = measured
    ? (((await redisCpu(measured.redis)) - redisBefore) * 1e6) / Math.max(1, r.requests.total)
    : 0
  const cpuUs =
    cpuBefore === null || cpuAfter === null
      ? null
      : ((cpuAfter - cpuBefore) * 1e6) / Math.max(1, r.requests.total)
  return {
    name,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    cpuUs,
    redisCpuUs,
    redis,
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

/** The round with the median throughput (its latencies and costs come with it). */
function medianResult(rs: Result[]): Result {
  const s = [...rs].sort((a, b) => a.rps - b.rps)
  return s[Math.floor((s.length - 1) / 2)] as Result
}

async function main() {
  // The broker runs compiled, as users run it: built first unless --no-build (both checkouts).
  if (!args['no-build'] && !(build(ROOT) && (COMPARE === null || build(COMPARE))))
    throw new Error('the build failed')
  let own: RedisServer | null = null
  const redisUrl = process.env['REDIS_URL'] ?? ((own = await redisServer()), own.url)
  const prefix = `airlock-bench:${randomBytes(6).toString('hex')}:`
  const tmp = await mkdtemp(join(tmpdir(), 'airlock-bench-gw-'))
  try {
    const [upPort, proxyPort, brokerPort] = [await freePort(), await freePort(), await freePort()]
    const upstream = `http://127.0.0.1:${upPort}`
    await start(['bench/gateway-servers.ts', 'upstream', String(upPort)])
    const proxyProcess = await start(['bench/gateway-servers.ts', 'proxy', String(proxyPort), upstream])
    const floorPort = await freePort()
    const floorProcess = await start([
      'bench/gateway-servers.ts',
      'floor',
      String(floorPort),
      upstream,
      redisUrl,
      prefix,
    ])

    const keyFile = join(tmp, 'signing.pem')
    await writeFile(
      keyFile,
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
    )
    const botKey = `ak_bench-bot_${randomBytes(18).toString('base64url')}`
    const config = join(tmp, 'airlock.yaml')
    await writeFile(
      config,
      `${benchConfigHead(brokerPort, redisUrl, prefix, keyFile, botKey)}providers:
${gatewayProvidersYaml(upstream)}policies:
  - { description: bench, agents: [bench-bot], environments: [staging], operation_classes: [read], providers: ["*"], max_ttl: 1h }
audit: { stdout: false }
rate_limits: { per_agent_per_minute: 1000000 }
`,
    )
    const env: NodeJS.ProcessEnv = { ...process.env, BENCH_UPSTREAM_TOKEN: 'bench-upstream-token' }
    delete env['AIRLOCK_CONFIG']
    const profiling = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : []
    const brokerProcess = await start(['bin/airlock.js', 'serve', '--config', config], env, profiling)
    const broker = `http://127.0.0.1:${brokerPort}`
    // The other checkout's broker: the same config, key and Redis prefix (and issuer, so the same
    // tokens work), listening on its own port.
    let other: { label: string; url: string; process: ChildProcess } | null = null
    if (COMPARE) {
      const port = await freePort()
      const otherConfig = join(tmp, 'airlock-compare.yaml')
      await writeFile(
        otherConfig,
        (await readFile(config, 'utf8')).replace(`port: ${brokerPort},`, `port: ${port},`),
      )
      const p = await start(['bin/airlock.js', 'serve', '--config', otherConfig], env, [], COMPARE)
      other = { label: `gateway (${basename(COMPARE)})`, url: `http://127.0.0.1:${port}`, process: p }
    }
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
    const stats = new Redis(redisUrl, { lazyConnect: true })
    await stats.connect()

    const scenarios = [
      {
        what: 'HTTP GET',
        only: 'http',
        method: 'GET' as const,
        path: '/api/items',
        gw: '/gw/bench-http/api/items',
        tok: httpToken,
      },
      {
        what: 'GraphQL query',
        only: 'graphql',
        method: 'POST' as const,
        path: '/graphql',
        gw: '/gw/bench-gql',
        tok: gqlToken,
      },
    ].filter((s) => ONLY === undefined || s.only === ONLY)
    const lines: string[] = []
    const summary: string[] = []
    for (const sc of scenarios) {
      const targets = [
        {
          label: 'bare proxy',
          url: `http://127.0.0.1:${proxyPort}${sc.path}`,
          process: proxyProcess,
          tok: null,
        },
        {
          label: 'floor',
          url: `http://127.0.0.1:${floorPort}${sc.path}`,
          process: floorProcess,
          tok: null,
        },
        { label: 'gateway', url: `${broker}${sc.gw}`, process: brokerProcess, tok: sc.tok },
        ...(other
          ? [{ label: other.label, url: `${other.url}${sc.gw}`, process: other.process, tok: sc.tok }]
          : []),
      ]
      if (WARMUP > 0) for (const t of targets) await cannon('warmup', t.url, sc.method, t.tok, WARMUP)
      // Rounds interleave the targets, so a neighbour's load falls on all of them alike, and each
      // round starts with the next target: the one measured right after another is not always the same.
      const runs = targets.map(() => [] as Result[])
      for (let round = 1; round <= ROUNDS; round++)
        for (let j = 0; j < targets.length; j++) {
          const i = (j + round - 1) % targets.length
          const t = targets[i] as (typeof targets)[number]
          log(`${sc.what}: ${t.label}, round ${round}/${ROUNDS}, ${DURATION} s, ${CONNECTIONS} connections`)
          const r = await cannon(`${sc.what} ${t.label}`, t.url, sc.method, t.tok, DURATION, {
            server: t.process,
            redis: stats,
          })
          runs[i]?.push(r)
        }
      for (const rs of runs) {
        const m = medianResult(rs)
        const cmds = Object.entries(m.redis)
          .map(([c, n]) => `${c} ${n.toFixed(2)}`)
          .join(', ')
        lines.push(
          `| ${m.name} | ${Math.round(m.rps)} | ${m.p50} | ${m.p99} | ${m.non2xx} | ${m.cpuUs === null ? 'n/a' : m.cpuUs.toFixed(0)} | ${m.redisCpuUs.toFixed(0)} | ${cmds || '-'} |`,
        )
      }
      const bare = runs[0] as Result[]
      for (const [i, t] of targets.entries()) {
        if (i === 0) continue
        const ratios = (runs[i] as Result[]).map((g, k) => g.rps / Math.max(1, (bare[k] as Result).rps))
        const added = (runs[i] as Result[]).map((g, k) => g.p99 - (bare[k] as Result).p99)
        summary.push(
          `${sc.what}: ${t.label}/bare throughput ${median(ratios).toFixed(2)}x` +
            (ROUNDS > 1 ? ` (rounds: ${ratios.map((x) => x.toFixed(2)).join(', ')})` : '') +
            `, p99 ${median((runs[i] as Result[]).map((g) => g.p99))} ms, added ${median(added).toFixed(1)} ms`,
        )
      }
    }
    stats.disconnect()
    console.log(
      `\n${ROUNDS > 1 ? `medians of ${ROUNDS} rounds\n` : ''}| scenario | req/s | p50 ms | p99 ms | non-2xx | server CPU µs/req | Redis CPU µs/req | Redis commands/req |\n|---|---:|---:|---:|---:|---:|---:|---|`,
    )
    for (const l of lines) console.log(l)
    console.log('')
    for (const l of summary) console.log(l)
    console.log(
      `load average after the run: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    )
    if (PROFILE) {
      // The profile is written as the broker exits: wait for it.
      const exited = new Promise((ok) => brokerProcess.once('exit', ok))
      brokerProcess.kill('SIGTERM')
      await exited
      log(`broker CPU profile in ${PROFILE}`)
    }
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
