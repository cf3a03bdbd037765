// Load benchmark of the real server (`airlock serve`, a separate process) against real Redis.
// Not a test: it asserts nothing, it reports. Run with `npm run bench -- [--duration 10]
// [--connections 50] [--warmup 2] [--no-build]`. REDIS_URL picks a Redis; otherwise a private
// redis-server is started. Only keys under a fresh `airlock-bench:<random>:` prefix are touched.
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { sha256Hex } from '../src/auth/apikeys.js'
import { redisKeys } from '../src/store/keys.js'
import { freePort, redisServer, type RedisServer } from '../test/support/redis-server.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const RESULTS = join(ROOT, 'bench', 'results', 'latest.json')

const TARGETS = { issueRps: 7000, introspectRps: 8500, p99Ms: 15, bytesPerSession: 1024 } as const
/** The brief's figures for the bare calibration routes on its 2-core machine. */
const BRIEF_BARE = { signRps: 15_000, verifyRps: 12_000 } as const
/** The schema's ceiling for rate_limits.per_agent_per_minute (src/config/schema.ts). */
const RATE_LIMIT = 1_000_000
const SAMPLE_KEYS = 2000

// ---------------------------------------------------------------- options

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '2' },
    'no-build': { type: 'boolean', default: false },
    /** Skip the bare calibration routes (bench/baseline-server.ts). */
    'no-baseline': { type: 'boolean', default: false },
    /** Write a V8 CPU profile of the server into this directory (open it in Chrome DevTools). */
    profile: { type: 'string' },
  },
  allowPositionals: false,
})
const positiveInt = (name: string, v: string, min = 1): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) {
    console.error(`bench: --${name} must be an integer >= ${min}`)
    process.exit(64)
  }
  return n
}
const DURATION = positiveInt('duration', args.duration)
const CONNECTIONS = positiveInt('connections', args.connections)
const WARMUP = positiveInt('warmup', args.warmup, 0)

const log = (s: string) => process.stderr.write(`bench: ${s}\n`)

// ---------------------------------------------------------------- resources (cleaned in finally)

let server: ChildProcess | null = null
let baseline: ChildProcess | null = null
let privateRedis: RedisServer | null = null
let redis: Redis | null = null
let tmp: string | null = null
let prefix = ''
let redisUrl = ''

async function stopServer(): Promise<number | null> {
  const c = server
  server = null
  return stopChild(c)
}

async function stopChild(c: ChildProcess | null): Promise<number | null> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return c?.exitCode ?? null
  return new Promise((done) => {
    const kill = setTimeout(() => c.kill('SIGKILL'), 5000)
    c.once('exit', (code) => {
      clearTimeout(kill)
      done(code)
    })
    c.kill('SIGTERM')
  })
}

async function deletePrefixKeys(r: Redis, pfx: string): Promise<number> {
  let deleted = 0
  let cursor = '0'
  do {
    const [next, found] = await r.scan(cursor, 'MATCH', `${pfx}*`, 'COUNT', 1000)
    cursor = next
    if (found.length > 0) deleted += await r.del(...found)
  } while (cursor !== '0')
  return deleted
}

let cleaned = false
async function cleanup(): Promise<void> {
  if (cleaned) return
  cleaned = true
  await stopServer().catch(() => undefined)
  await stopChild(baseline).catch(() => undefined)
  baseline = null
  if (redis && prefix) {
    try {
      const n = await deletePrefixKeys(redis, prefix)
      log(`deleted ${n} keys under ${prefix}`)
    } catch (e) {
      log(`could not delete keys under ${prefix}: ${(e as Error).message}`)
    }
  }
  redis?.disconnect()
  redis = null
  await privateRedis?.stop().catch(() => undefined)
  privateRedis = null
  if (tmp) await rm(tmp, { recursive: true, force: true }).catch(() => undefined)
  tmp = null
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`)
    void cleanup().finally(() => process.exit(130))
  })
}

class StartError extends Error {}

// ---------------------------------------------------------------- helpers

interface Scenario {
  name: string
  /** CPU time per request (all threads), a steadier measure than req/s on a noisy machine. */
  cpuUsPerRequest: { server: number; serverMain: number; redis: number; loadGenerator: number }
  machineBusyPct: number
  requests: number
  rps: number
  p50: number
  p99: number
  non2xx: number
  errors: number
  timeouts: number
  statusCodes: Record<string, number>
}

/** CPU seconds so far: the server process (all threads), Redis (INFO), this process, the machine. */
interface CpuSnapshot {
  server: number
  /** The event loop's thread alone: what bounds one process's throughput. */
  serverMain: number
  redis: number
  loadGen: number
  machineBusy: number
  machineTotal: number
}
const TICK = 100 // USER_HZ on Linux
async function cpuSnapshot(pid: number): Promise<CpuSnapshot> {
  // Fields after the ")" of the command name: utime and stime are the 12th and 13th.
  const ticks = (file: string) => {
    const stat = readFileSync(file, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / TICK
  }
  const info = (await redis?.info('cpu')) ?? ''
  const own = process.cpuUsage()
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').split(/\s+/).slice(1).map(Number)
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0)
  const total = cpu.reduce((a, b) => a + b, 0)
  return {
    server: ticks(`/proc/${pid}/stat`),
    serverMain: ticks(`/proc/${pid}/task/${pid}/stat`),
    redis: Number(infoField(info, 'used_cpu_user')) + Number(infoField(info, 'used_cpu_sys')),
    loadGen: (own.user + own.system) / 1e6,
    machineBusy: (total - idle) / TICK,
    machineTotal: total / TICK,
  }
}

async function cannon(
  name: string,
  url: string,
  authorization: string,
  body: unknown,
  seconds: number,
  target: ChildProcess | null = server,
): Promise<Scenario> {
  const pid = target?.pid ?? 0
  const before = await cpuSnapshot(pid)
  const r = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: authorization
      ? { authorization, 'content-type': 'application/json' }
      : { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const after = await cpuSnapshot(pid)
  const statusCodes: Record<string, number> = {}
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = s.count ?? 0
  const n = Math.max(1, r.requests.total)
  const us = (k: keyof CpuSnapshot) => Math.round(((after[k] - before[k]) * 1e6) / n)
  return {
    name,
    cpuUsPerRequest: {
      server: us('server'),
      serverMain: us('serverMain'),
      redis: us('redis'),
      loadGenerator: us('loadGen'),
    },
    machineBusyPct: Math.round(
      (100 * (after.machineBusy - before.machineBusy)) /
        Math.max(1e-9, after.machineTotal - before.machineTotal),
    ),
    requests: r.requests.total,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes,
  }
}

async function memoryUsage(r: Redis, key: string): Promise<number> {
  // SAMPLES 0: count every element of aggregate types instead of extrapolating from 5.
  const n = (await r.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) as number | null
  return n ?? 0
}

const infoField = (info: string, name: string): string =>
  new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '?'

async function usedMemory(r: Redis): Promise<number> {
  return Number(infoField(await r.info('memory'), 'used_memory'))
}

interface Memory {
  liveSessions: number
  sessionKeys: number
  sampled: number
  recordBytes: number
  deadlinesBytes: number
  createdBytes: number
  indexBytes: number
  totalBytes: number
  usedMemoryDeltaPerSession: number | null
  audit: { events: number; streamBytes: number; bytesPerEvent: number; eventsPerSession: number }
}

async function measureMemory(r: Redis, usedBefore: number, sessionsBefore: number): Promise<Memory> {
  const k = redisKeys(prefix)
  const usedAfter = await usedMemory(r)
  const liveSessions = await r.zcard(k.deadlines)
  const createdCount = await r.zcard(k.created)

  // Session records: count them all, weigh a sample.
  let cursor = '0'
  let sessionKeys = 0
  let sampledBytes = 0
  let sampled = 0
  do {
    const [next, found] = await r.scan(cursor, 'MATCH', k.session('*'), 'COUNT', 1000)
    cursor = next
    sessionKeys += found.length
    for (const key of found) {
      if (sampled >= SAMPLE_KEYS) break
      sampledBytes += await memoryUsage(r, key)
      sampled++
    }
  } while (cursor !== '0')
  const recordBytes = sampled > 0 ? sampledBytes / sampled : 0
  const deadlinesBytes = liveSessions > 0 ? (await memoryUsage(r, k.deadlines)) / liveSessions : 0
  const createdBytes = createdCount > 0 ? (await memoryUsage(r, k.created)) / createdCount : 0
  const indexBytes = deadlinesBytes + createdBytes

  const events = await r.xlen(k.audit)
  const streamBytes = await memoryUsage(r, k.audit)
  const newSessions = liveSessions - sessionsBefore
  return {
    liveSessions,
    sessionKeys,
    sampled,
    recordBytes,
    deadlinesBytes,
    createdBytes,
    indexBytes,
    totalBytes: recordBytes + indexBytes,
    usedMemoryDeltaPerSession: newSessions > 0 ? (usedAfter - usedBefore) / newSessions : null,
    audit: {
      events,
      streamBytes,
      bytesPerEvent: events > 0 ? streamBytes / events : 0,
      eventsPerSession: liveSessions > 0 ? events / liveSessions : 0,
    },
  }
}

function configYaml(o: {
  port: number
  redisUrl: string
  prefix: string
  keyFile: string
  botKey: string
  rsKey: string
}): string {
  return `
server: { host: 127.0.0.1, port: ${o.port}, public_url: "http://127.0.0.1:${o.port}" }
store: { redis_url: ${JSON.stringify(o.redisUrl)}, key_prefix: ${JSON.stringify(o.prefix)} }
tokens: { algorithm: EdDSA, signing_key: ${JSON.stringify(`file:${o.keyFile}`)} }
environments: [{ name: staging }]
operation_classes: [{ name: read }]
agents:
  - { id: bench-bot, api_key_sha256: ${sha256Hex(o.botKey)} }
resource_servers:
  - { id: bench-rs, audiences: [bench-api], api_key_sha256: ${sha256Hex(o.rsKey)} }
providers:
  - { name: bench-api, type: jwt, audience: bench-api }
policies:
  - description: bench-bot reads staging freely
    agents: [bench-bot]
    environments: [staging]
    operation_classes: [read]
    providers: [bench-api]
audit: { stdout: true }
rate_limits: { per_agent_per_minute: ${RATE_LIMIT} }
`
}

async function waitReady(base: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000
  let last = 'no answer'
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new StartError(
        `server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail(logFile, 20)}`,
      )
    }
    try {
      const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) })
      if (res.status === 200) return
      last = `status ${res.status}`
    } catch (e) {
      last = (e as Error).message
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new StartError(`server not ready after 30 s (${last}):\n${tail(logFile, 20)}`)
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no server log)'
  }
}

/** Warn/error lines of the server's (pino, JSON) stderr, grouped by message. */
function serverWarnings(file: string): { lines: number; warnings: Record<string, number> } {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return { lines: 0, warnings: {} }
  }
  const warnings: Record<string, number> = {}
  let lines = 0
  for (const line of text.split('\n')) {
    if (!line) continue
    lines++
    let msg: string
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string }
      if ((j.level ?? 0) < 40) continue
      msg = `${j.level === 40 ? 'WARN' : 'ERROR'} ${j.msg ?? line.slice(0, 200)}`
    } catch {
      msg = `RAW ${line.slice(0, 200)}`
    }
    warnings[msg] = (warnings[msg] ?? 0) + 1
  }
  return { lines, warnings }
}

/** Starts bench/baseline-server.ts on a free port; resolves with its base URL once it answers. */
async function startBaseline(keyPrefix: string): Promise<string> {
  const port = await freePort()
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench', 'baseline-server.ts'), String(port), redisUrl, keyPrefix],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
  )
  baseline = child
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new StartError('the baseline server exited')
    try {
      if ((await fetch(`${base}/sign`, { method: 'POST', signal: AbortSignal.timeout(1000) })).ok) return base
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new StartError('the baseline server did not answer within 30 s')
}

async function bareSignOnce(base: string): Promise<string> {
  const res = await fetch(`${base}/sign`, { method: 'POST' })
  return ((await res.json()) as { token: string }).token
}

/**
 * The brief states its targets on a machine where the bare routes reach BRIEF_BARE. Airlock's
 * share of the bare route measured here, against the target's share of the brief's bare figure,
 * says whether the target is met independent of this machine's speed.
 */
function calibrate(issue: Scenario, introspect: Scenario, sign: Scenario | null, verify: Scenario | null) {
  const lines: string[] = []
  if (!sign || !verify) return { lines, summary: null }
  const rows = [
    { s: issue, bare: sign, target: TARGETS.issueRps, brief: BRIEF_BARE.signRps },
    { s: introspect, bare: verify, target: TARGETS.introspectRps, brief: BRIEF_BARE.verifyRps },
  ].map(({ s, bare, target, brief }) => ({
    name: s.name,
    bare: bare.name,
    bareRps: Math.round(bare.rps),
    briefBareRps: brief,
    share: s.rps / bare.rps,
    targetShare: target / brief,
    scaledTarget: Math.round((target / brief) * bare.rps),
    met: s.rps / bare.rps >= target / brief,
  }))
  lines.push("  calibration: the brief's bare routes, run here right after each Airlock run (same Redis)")
  for (const r of [sign, verify]) {
    const brief = r === sign ? BRIEF_BARE.signRps : BRIEF_BARE.verifyRps
    lines.push(
      `    ${r.name.padEnd(11)}  ${fmt(r.rps).padStart(7)} req/s, p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms ` +
        `(the brief's machine: ~${fmt(brief)})`,
    )
  }
  for (const r of rows) {
    lines.push(
      `    ${r.name.padEnd(11)}  ${(100 * r.share).toFixed(0)}% of ${r.bare} (target: ${(100 * r.targetShare).toFixed(0)}%, ` +
        `i.e. >= ${fmt(r.scaledTarget)} req/s on this machine) ${mark(r.met)}`,
    )
  }
  return { lines, summary: rows }
}

async function issueOnce(base: string, botKey: string, body: unknown): Promise<string> {
  const res = await fetch(`${base}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${botKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const json = (await res.json()) as { grant?: { token?: string } }
  if (res.status !== 201 || !json.grant?.token) {
    throw new Error(`POST /v1/sessions answered ${res.status}: ${JSON.stringify(json).slice(0, 300)}`)
  }
  return json.grant.token
}

async function introspectOnce(base: string, rsKey: string, token: string): Promise<string> {
  const res = await fetch(`${base}/v1/introspect`, {
    method: 'POST',
    headers: { authorization: `Bearer ${rsKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  })
  const json = (await res.json()) as { active?: boolean }
  return `${res.status} active=${String(json.active)}`
}

// ---------------------------------------------------------------- main

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const mark = (ok: boolean) => (ok ? 'ok' : 'MISS')

async function main(): Promise<number> {
  if (!args['no-build']) {
    log('building (npm run build)')
    const b = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 2, 2] })
    if (b.status !== 0) {
      log(`build failed (exit ${b.status ?? b.signal})`)
      return 1
    }
  }

  // Redis
  if (process.env['REDIS_URL']) {
    redisUrl = process.env['REDIS_URL']
    log('using REDIS_URL')
  } else {
    privateRedis = await redisServer()
    redisUrl = privateRedis.url
    log(`started private redis-server on port ${privateRedis.port}`)
  }
  prefix = `airlock-bench:${randomBytes(6).toString('hex')}:`
  redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 })
  await redis.connect()
  const redisVersion = infoField(await redis.info('server'), 'redis_version')

  // Config, key, credentials
  tmp = await mkdtemp(join(tmpdir(), 'airlock-bench-'))
  const keyFile = join(tmp, 'signing-key.pem')
  const { privateKey } = generateKeyPairSync('ed25519')
  await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  const botKey = `ak_bench-bot_${randomBytes(18).toString('base64url')}`
  const rsKey = `ak_bench-rs_${randomBytes(18).toString('base64url')}`
  const port = await freePort()
  const configFile = join(tmp, 'airlock.yaml')
  await writeFile(configFile, configYaml({ port, redisUrl, prefix, keyFile, botKey, rsKey }), { mode: 0o600 })
  const base = `http://127.0.0.1:${port}`

  // Server: stdout (the audit stream) discarded; stderr (the pino log) to a file, read at the end.
  const logFile = join(tmp, 'server.log')
  const logFd = openSync(logFile, 'w')
  const env = { ...process.env }
  delete env['AIRLOCK_CONFIG']
  const profile = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${resolve(args.profile)}`] : []
  server = spawn(
    process.execPath,
    [...profile, join(ROOT, 'bin', 'airlock.js'), 'serve', '--config', configFile],
    {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', logFd],
    },
  )
  closeSync(logFd)
  await waitReady(base, server, logFile)
  log(`server ready on ${base} (pid ${server.pid})`)

  const issueBody = {
    environment: 'staging',
    operation_class: 'read',
    provider: 'bench-api',
    task: { id: 'BENCH-1' },
  }
  const k = redisKeys(prefix)
  const usedBefore = await usedMemory(redis)
  const sessionsBefore = await redis.zcard(k.deadlines)

  // a. issue
  if (WARMUP > 0) {
    log(`warm-up: issue ${WARMUP} s`)
    await cannon('issue-warmup', `${base}/v1/sessions`, `Bearer ${botKey}`, issueBody, WARMUP)
  }
  log(`issue: ${DURATION} s, ${CONNECTIONS} connections`)
  const issue = await cannon('issue', `${base}/v1/sessions`, `Bearer ${botKey}`, issueBody, DURATION)

  // Redis memory, right after the issue run (warm-up sessions are live too and counted).
  log('measuring Redis memory')
  const memory = await measureMemory(redis, usedBefore, sessionsBefore)

  // Calibration, each bare route run right after its Airlock counterpart (the machine's speed drifts).
  const bare = args['no-baseline'] ? null : await startBaseline(`${prefix}bare:`)
  const bareRun = async (route: 'sign' | 'verify', body: unknown) => {
    if (!bare) return null
    if (WARMUP > 0) await cannon(`bare-${route}-warmup`, `${bare}/${route}`, '', body, WARMUP, baseline)
    log(`bare ${route}: ${DURATION} s, ${CONNECTIONS} connections`)
    return cannon(`bare ${route}`, `${bare}/${route}`, '', body, DURATION, baseline)
  }
  const bareSign = await bareRun('sign', {})

  // b. introspect
  const token = await issueOnce(base, botKey, issueBody)
  const checkBefore = await introspectOnce(base, rsKey, token)
  if (WARMUP > 0) {
    log(`warm-up: introspect ${WARMUP} s`)
    await cannon('introspect-warmup', `${base}/v1/introspect`, `Bearer ${rsKey}`, { token }, WARMUP)
  }
  log(`introspect: ${DURATION} s, ${CONNECTIONS} connections`)
  const introspect = await cannon(
    'introspect',
    `${base}/v1/introspect`,
    `Bearer ${rsKey}`,
    { token },
    DURATION,
  )
  const checkAfter = await introspectOnce(base, rsKey, token)
  const bareToken = bare ? await bareSignOnce(bare) : ''
  const bareVerify = await bareRun('verify', { token: bareToken })

  const serverExit = await stopServer()
  const serverLog = serverWarnings(logFile)

  // ---------------------------------------------------------------- report
  const cpuList = cpus()
  const env0 = {
    node: process.version,
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? '?',
    redis: `${redisVersion} (${privateRedis ? 'private redis-server' : 'REDIS_URL'})`,
    durationSeconds: DURATION,
    warmupSeconds: WARMUP,
    connections: CONNECTIONS,
  }
  const out: string[] = []
  const p = (s = '') => out.push(s)
  p('Airlock benchmark')
  p(
    `  node ${env0.node} | ${env0.cpus} CPU (${env0.cpuModel}) | redis ${env0.redis} | ` +
      `${DURATION} s per run, ${WARMUP} s warm-up, ${CONNECTIONS} connections`,
  )
  p('  (autocannon, server and Redis share the same machine)')
  p()
  p('  scenario     req/s (target)          p50 ms  p99 ms (target)     requests  non-2xx  errors')
  const row = (s: Scenario, target: number) =>
    `  ${s.name.padEnd(11)}  ${fmt(s.rps).padStart(7)} (>= ${fmt(target)} ${mark(s.rps >= target)})`.padEnd(
      40,
    ) +
    `  ${fmt(s.p50, 1).padStart(6)}  ${fmt(s.p99, 1).padStart(6)} (<= ${TARGETS.p99Ms} ${mark(s.p99 <= TARGETS.p99Ms)})`.padEnd(
      29,
    ) +
    `  ${fmt(s.requests).padStart(9)}  ${fmt(s.non2xx).padStart(7)}  ${fmt(s.errors).padStart(6)}`
  p(row(issue, TARGETS.issueRps))
  p(row(introspect, TARGETS.introspectRps))
  p(`  introspect sanity: before run ${checkBefore}, after run ${checkAfter}`)
  const calibration = calibrate(issue, introspect, bareSign, bareVerify)
  for (const line of calibration.lines) p(line)
  p('  CPU per request: server (its event loop), Redis, load generator; how busy the machine was')
  for (const s of [issue, introspect, bareSign, bareVerify].filter((x): x is Scenario => x !== null)) {
    const c = s.cpuUsPerRequest
    p(
      `    ${s.name.padEnd(11)}  ${c.server} us (${c.serverMain} us), ${c.redis} us, ${c.loadGenerator} us; ` +
        `${s.machineBusyPct}% busy`,
    )
  }
  for (const s of [issue, introspect]) {
    if (s.non2xx > 0 || s.errors > 0) {
      p(
        `  WARNING: ${s.name}: ${s.non2xx} non-2xx, ${s.errors} errors (${s.timeouts} timeouts); ` +
          `status codes ${JSON.stringify(s.statusCodes)}`,
      )
    }
  }
  p()
  p(
    `  Redis bytes per active session: ${fmt(memory.totalBytes)} B (target <= ${TARGETS.bytesPerSession} B ` +
      `${mark(memory.totalBytes <= TARGETS.bytesPerSession)})`,
  )
  p(
    `    record ${fmt(memory.recordBytes)} B (MEMORY USAGE, mean of ${fmt(memory.sampled)} sampled of ` +
      `${fmt(memory.sessionKeys)} session keys)`,
  )
  p(
    `    indexes ${fmt(memory.indexBytes)} B (deadlines ${fmt(memory.deadlinesBytes)} B + created ` +
      `${fmt(memory.createdBytes)} B per member)`,
  )
  p(`    live sessions (ZCARD deadlines): ${fmt(memory.liveSessions)}`)
  if (memory.usedMemoryDeltaPerSession !== null) {
    p(
      `    cross-check: INFO used_memory delta / new sessions = ${fmt(memory.usedMemoryDeltaPerSession)} B ` +
        `(includes audit stream and allocator overhead${privateRedis ? '' : '; shared Redis, noisy'})`,
    )
  }
  p(
    `  Audit stream (retention-bound log, not counted above): ${fmt(memory.audit.bytesPerEvent)} B/event ` +
      `(${fmt(memory.audit.events)} events, ${fmt(memory.audit.streamBytes)} B, ` +
      `${fmt(memory.audit.eventsPerSession, 2)} events per session)`,
  )
  p()
  const warnEntries = Object.entries(serverLog.warnings)
  p(
    `  server: exit ${serverExit ?? '?'} after SIGTERM; ${fmt(serverLog.lines)} log lines, ` +
      `${warnEntries.reduce((a, [, n]) => a + n, 0)} warn/error`,
  )
  for (const [msg, n] of warnEntries.slice(0, 10)) p(`    ${n}x ${msg}`)
  const summary = out.join('\n')
  console.log(summary)

  const json = {
    at: new Date().toISOString(),
    environment: env0,
    targets: TARGETS,
    scenarios: { issue, introspect, bareSign, bareVerify },
    calibration: calibration.summary,
    introspectSanity: { before: checkBefore, after: checkAfter },
    redisPerSession: memory,
    server: { exitCode: serverExit, logLines: serverLog.lines, warnings: serverLog.warnings },
    config: { ratePerAgentPerMinute: RATE_LIMIT },
  }
  await mkdir(dirname(RESULTS), { recursive: true })
  await writeFile(RESULTS, `${JSON.stringify(json, null, 2)}\n`)
  log(`wrote ${RESULTS}`)
  return 0
}

let code = 1
try {
  code = await main()
} catch (e) {
  if (e instanceof StartError) log(`the server could not start: ${e.message}`)
  else log(`failed: ${(e as Error).stack ?? String(e)}`)
  code = 1
} finally {
  await cleanup()
}
process.exit(code)
