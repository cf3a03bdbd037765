// Soak: do the brokers' memory and Redis's stay bounded under steady traffic? `npm run bench:soak --
// [--duration 600] [--workers 16] [--replicas 2] [--ttl 10] [--heap] [--no-build]`. Two `airlock
// serve` processes share a private redis-server. Each worker loops: issue a session (--ttl seconds),
// introspect its token twice, then end it (three sessions in four; the fourth is left to expire).
// Every 5 s the RSS of each broker is sampled. It reports RSS after the first minute and at the
// end, and Redis used_memory growth per issued session (records, audit events and indexes, all
// kept for store.retention). With --heap each broker writes a heap snapshot after the first
// minute and at the end (into the run's folder, kept and printed).
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import { redisKeys } from '../src/store/keys.js'
import { redisServer, type RedisServer } from '../test/support/redis-server.js'
import {
  brokers,
  build,
  procCpu,
  procRss,
  redisUsed,
  runBench,
  startBroker,
  stopBroker,
  writeReplicaSet,
} from './lib/replicas.js'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '600' },
    workers: { type: 'string', default: '16' },
    replicas: { type: 'string', default: '2' },
    ttl: { type: 'string', default: '10' },
    heap: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
  },
})
const DURATION = Number(args.duration)
const WORKERS = Number(args.workers)
const REPLICAS = Number(args.replicas)
const TTL = Number(args.ttl)
const log = (s: string) => process.stderr.write(`bench:soak: ${s}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const MiB = (b: number) => Math.round((b / 1048576) * 10) / 10

let privateRedis: RedisServer | null = null
let tmp = ''
let keep = false

async function main() {
  if (!build(args['no-build'], log)) return 1
  privateRedis = await redisServer()
  const redisUrl = privateRedis.url
  const prefix = `airlock-soak:${randomBytes(6).toString('hex')}:`
  const redis = new Redis(redisUrl)
  tmp = await mkdtemp(join(tmpdir(), 'airlock-bench-soak-'))
  const set = await writeReplicaSet(tmp, REPLICAS, redisUrl, prefix)
  const { botKey, logFile } = set
  const nodeArgs = args.heap ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${tmp}`] : []
  const replicas: { port: number; pid: number }[] = []
  for (const { port, config } of set.replicas) {
    const child = await startBroker(config, port, logFile, nodeArgs)
    replicas.push({ port, pid: child.pid as number })
  }
  const usedBefore = await redisUsed(redis)
  const dispatcher = new Agent({ connections: WORKERS, pipelining: 1 })
  const headers = { authorization: `Bearer ${botKey}`, 'content-type': 'application/json' }
  const body = JSON.stringify({
    environment: 'staging',
    operation_class: 'read',
    provider: 'bench-api',
    task: { id: 'SOAK-1' },
    ttl_seconds: TTL,
  })
  const counts = { issued: 0, introspected: 0, ended: 0, errors: 0 }
  const call = async (origin: string, method: 'POST' | 'DELETE', path: string, payload?: string) => {
    const r = await request(`${origin}${path}`, {
      method,
      ...(payload === undefined
        ? { headers: { authorization: headers.authorization } }
        : { headers, body: payload }),
      dispatcher,
    })
    const text = await r.body.text()
    if (r.statusCode >= 300) {
      counts.errors++
      return null
    }
    return JSON.parse(text) as Record<string, unknown>
  }
  const deadline = Date.now() + DURATION * 1000
  const worker = async (origin: string, n: number) => {
    let i = n
    while (Date.now() < deadline) {
      const issued = (await call(origin, 'POST', '/v1/sessions', body).catch(() => null)) as {
        session: { id: string }
        grant: { token: string }
      } | null
      if (!issued) continue
      counts.issued++
      const token = JSON.stringify({ token: issued.grant.token })
      for (let j = 0; j < 2; j++)
        if (await call(origin, 'POST', '/v1/introspect', token)) counts.introspected++
      if (i++ % 4 !== 3 && (await call(origin, 'DELETE', `/v1/sessions/${issued.session.id}`))) counts.ended++
    }
  }
  log(`${REPLICAS} replicas, ${WORKERS} workers each, ${TTL} s TTL, ${DURATION} s`)
  const started = Date.now()
  const rss: { at: number; rss: number[] }[] = []
  let sampling = true
  const snapshots: string[] = []
  const snap = (when: string) => {
    if (!args.heap) return
    for (const r of replicas) process.kill(r.pid, 'SIGUSR2')
    snapshots.push(when)
  }
  const sampler = (async () => {
    let snapped = false
    while (sampling) {
      rss.push({ at: (Date.now() - started) / 1000, rss: replicas.map((r) => procRss(r.pid)) })
      if (!snapped && Date.now() - started >= 60_000) {
        snapped = true
        snap('minute 1')
      }
      await sleep(5000)
    }
  })()
  const cpu0 = replicas.map((r) => procCpu(r.pid))
  await Promise.all(
    replicas.flatMap((r) =>
      Array.from({ length: WORKERS }, (_, n) => worker(`http://127.0.0.1:${r.port}`, n)),
    ),
  )
  sampling = false
  await sampler
  const end = replicas.map((r) => procRss(r.pid))
  const cpu = replicas.map((r, i) => procCpu(r.pid) - (cpu0[i] as number))
  snap('end')
  // Sessions left to expire: wait until the sweepers wrote them, so Redis holds their final form.
  const k = redisKeys(prefix)
  for (let i = 0; i < 60 && (await redis.zcount(k.deadlines, '-inf', Date.now())) > 0; i++) await sleep(500)
  await sleep(TTL * 1000 + 1500)
  const usedAfter = await redisUsed(redis)
  const atMinute = rss.find((s) => s.at >= 60) ?? rss[0]
  console.log(
    JSON.stringify({
      soak: {
        durationSeconds: DURATION,
        replicas: REPLICAS,
        workersPerReplica: WORKERS,
        ...counts,
        issuedPerSecond: Math.round(counts.issued / DURATION),
        rssMiB: replicas.map((_, i) => ({
          afterMinute1: MiB(atMinute?.rss[i] ?? 0),
          end: MiB(end[i] as number),
          ratio: Math.round(((end[i] as number) / (atMinute?.rss[i] ?? 1)) * 100) / 100,
          max: MiB(Math.max(...rss.map((s) => s.rss[i] as number))),
        })),
        rssSeriesMiB: rss.filter((_, j) => j % 6 === 0).map((s) => [Math.round(s.at), ...s.rss.map(MiB)]),
        brokerCpuSeconds: cpu,
        redisBytesPerIssuedSession: Math.round((usedAfter - usedBefore) / Math.max(1, counts.issued)),
        heapSnapshots: snapshots.length > 0 ? tmp : null,
        loadAverage: loadavg(),
      },
    }),
  )
  keep = snapshots.length > 0
  await Promise.all(brokers.map(stopBroker))
  redis.disconnect()
  await dispatcher.close()
  return 0
}

runBench(main, log, async () => {
  await privateRedis?.stop()
  if (tmp && !keep) await rm(tmp, { recursive: true, force: true })
})
