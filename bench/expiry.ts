// Expiry benchmark: does expiry keep pace with issuing, and how fast does a backlog drain?
// `npm run bench:expiry -- [--duration 20] [--connections 40] [--backlog 100000] [--replicas 2]
// [--no-build]`. Two `airlock serve` processes share a private redis-server (or REDIS_URL, touching
// only keys under a fresh prefix).
//   pace:  both replicas issue at full rate with a 10 s TTL for --duration seconds; every 200 ms the
//          age of the oldest overdue session (deadline passed, not expired yet) and the number of
//          overdue sessions are sampled from Redis. Reports p50/p99/max of that age.
//   drain: the replicas stop; --backlog sessions already past their deadline are written straight
//          into the store (as the broker writes them); the replicas start again and the time until
//          none is overdue gives the drain rate.
// It asserts nothing; it reports.
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { redisKeys } from '../src/store/keys.js'
import { createRedisStore } from '../src/store/redis.js'
import { makeRec } from '../test/support/records.js'
import { redisServer, type RedisServer } from '../test/support/redis-server.js'
import {
  build,
  procCpu,
  redisCpu,
  runBench,
  startBroker,
  stopBroker,
  writeReplicaSet,
} from './lib/replicas.js'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '20' },
    connections: { type: 'string', default: '40' },
    backlog: { type: 'string', default: '100000' },
    replicas: { type: 'string', default: '2' },
    'no-build': { type: 'boolean', default: false },
    /** Skip the pace phase (0 s): only the drain. */
    'drain-only': { type: 'boolean', default: false },
    /** Write a CPU profile of each replica during the drain into this folder. */
    'cpu-prof': { type: 'string' },
  },
})
const DURATION = Number(args.duration)
const CONNECTIONS = Number(args.connections)
const BACKLOG = Number(args.backlog)
const REPLICAS = Number(args.replicas)
const log = (s: string) => process.stderr.write(`bench:expiry: ${s}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let privateRedis: RedisServer | null = null
let tmp = ''

/** INFO commandstats as µs per unit of work, the costliest first. */
async function commandCost(r: Redis, units: number): Promise<Record<string, number>> {
  const out: [string, number][] = []
  for (const m of (await r.info('commandstats')).matchAll(/^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/gm))
    out.push([`${m[1]} (${Math.round((Number(m[2]) / units) * 100) / 100}/session)`, Number(m[3]) / units])
  out.sort((a, b) => b[1] - a[1])
  return Object.fromEntries(out.slice(0, 12).map(([k, v]) => [k, Math.round(v * 100) / 100]))
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? 0 : (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number)
}

async function main() {
  if (!build(args['no-build'], log)) return 1
  let redisUrl = process.env['REDIS_URL'] ?? ''
  if (!redisUrl) {
    privateRedis = await redisServer()
    redisUrl = privateRedis.url
  }
  const prefix = `airlock-bench:${randomBytes(6).toString('hex')}:`
  const k = redisKeys(prefix)
  const redis = new Redis(redisUrl)
  tmp = await mkdtemp(join(tmpdir(), 'airlock-bench-expiry-'))
  const { botKey, logFile, replicas } = await writeReplicaSet(tmp, REPLICAS, redisUrl, prefix)
  const startAll = (nodeArgs: string[] = []) =>
    Promise.all(replicas.map((r) => startBroker(r.config, r.port, logFile, nodeArgs)))

  /** Oldest overdue age (s) and overdue count, straight from the deadlines index. */
  const lag = async () => {
    const now = Date.now()
    const [due, oldest] = await Promise.all([
      redis.zcount(k.deadlines, '-inf', now),
      redis.zrangebyscore(k.deadlines, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1),
    ])
    return { due, age: oldest.length === 2 ? (now - Number(oldest[1])) / 1000 : 0 }
  }

  // ---- pace
  let running = await startAll()
  if (!args['drain-only']) await pace()
  async function pace() {
    log(`pace: ${REPLICAS} replicas, ${CONNECTIONS} connections in all, 10 s TTL, ${DURATION} s`)
    const ages: number[] = []
    let maxDue = 0
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const l = await lag()
        ages.push(l.age)
        maxDue = Math.max(maxDue, l.due)
        await sleep(200)
      }
    })()
    const body = JSON.stringify({
      environment: 'staging',
      operation_class: 'read',
      provider: 'bench-api',
      task: { id: 'BENCH-1' },
      ttl_seconds: 10,
    })
    const runs = await Promise.all(
      replicas.map((r) =>
        autocannon({
          url: `http://127.0.0.1:${r.port}/v1/sessions`,
          method: 'POST',
          connections: Math.max(1, Math.floor(CONNECTIONS / REPLICAS)),
          duration: DURATION,
          headers: { authorization: `Bearer ${botKey}`, 'content-type': 'application/json' },
          body,
        }),
      ),
    )
    const issued = runs.reduce((n, r) => n + (r.statusCodeStats?.['201']?.count ?? 0), 0)
    const errors = runs.reduce((n, r) => n + r.non2xx + r.errors, 0)
    // Sessions issued in the last 10 s fall due after the load stops: sample until they are gone.
    const tail = Date.now()
    while (Date.now() - tail < 30_000) {
      await sleep(500)
      if ((await lag()).due === 0 && Date.now() - tail > 11_000) break
    }
    sampling = false
    await sampler
    const expired = (await redis.zcard(k.created)) - (await redis.zcard(k.deadlines))
    console.log(
      JSON.stringify({
        pace: {
          durationSeconds: DURATION,
          replicas: REPLICAS,
          issued,
          issuedPerSecond: Math.round(issued / DURATION),
          errors,
          expiredByEnd: expired,
          oldestOverdueSeconds: { p50: pct(ages, 50), p99: pct(ages, 99), max: Math.max(0, ...ages) },
          maxOverdue: maxDue,
          samples: ages.length,
          loadAverage: loadavg()[0],
        },
      }),
    )
  }

  // ---- drain
  await Promise.all(running.map(stopBroker))
  log(`drain: writing ${BACKLOG} overdue sessions`)
  const store = await createRedisStore(redisUrl, prefix)
  const now = Date.now()
  for (let i = 0; i < BACKLOG; i += 1000) {
    await Promise.all(
      Array.from({ length: Math.min(1000, BACKLOG - i) }, () => {
        const rec = makeRec(now - 60_000, {
          status: 'active',
          agent: 'bench-bot',
          provider: 'bench-api',
          expires_at: now - 30_000,
          approvals_required: 0,
          approvals: [],
        })
        return store.createSession(rec, 86_400_000, now)
      }),
    )
  }
  await store.close()
  log(`drain: ${(await lag()).due} overdue; starting ${REPLICAS} replicas`)
  const started = performance.now()
  const prof = args['cpu-prof']
  running = await startAll(prof ? ['--cpu-prof', `--cpu-prof-dir=${resolve(prof)}`] : [])
  const ready = performance.now()
  // The sweepers start before the HTTP port opens: count from what is left once both answer.
  const atReady = (await lag()).due
  const cpu0 = running.map((c) => procCpu(c.pid as number))
  await redis.config('RESETSTAT')
  const redis0 = await redisCpu(redis)
  let last = await lag()
  while (last.due > 0 && performance.now() - ready < 120_000) {
    await sleep(100)
    last = await lag()
  }
  const seconds = (performance.now() - ready) / 1000
  const drained = Math.max(1, atReady - last.due)
  const brokerCpu = running.reduce((n, c, i) => n + procCpu(c.pid as number) - (cpu0[i] as number), 0)
  const redisCpuUs = ((await redisCpu(redis)) - redis0) * 1e6
  console.log(
    JSON.stringify({
      drain: {
        backlog: BACKLOG,
        replicas: REPLICAS,
        startSeconds: (ready - started) / 1000,
        overdueAtReady: atReady,
        drainSeconds: seconds,
        leftOverdue: last.due,
        perSecond: Math.round((atReady - last.due) / seconds),
        // Wall time depends on how busy the machine is; CPU time per session much less so.
        brokerCpuUsPerSession: Math.round((brokerCpu * 1e6) / drained),
        redisCpuUsPerSession: Math.round(redisCpuUs / drained),
        // Where Redis spent it: µs per expired session by command (scripts' inner calls included).
        redisUsPerSessionByCommand: await commandCost(redis, drained),
        loadAverage: loadavg()[0],
      },
    }),
  )
  await Promise.all(running.map(stopBroker))
  // Warnings and errors the replicas logged (a failing sweeper job shows here), the first few.
  const logged = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => /"level":(4|5|6)0/.test(l) && !l.includes('Redis persists nothing'))
  if (logged.length > 0)
    log(`${logged.length} warnings/errors logged, first:\n${logged.slice(0, 5).join('\n')}`)
  let cursor = '0'
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    if (found.length > 0) await redis.del(...found)
  } while (cursor !== '0')
  redis.disconnect()
  return 0
}

runBench(main, log, async () => {
  await privateRedis?.stop()
  if (tmp) await rm(tmp, { recursive: true, force: true })
})
