// Load benchmark of the real server (`airlock serve`, a separate process) against real Redis.
// Not a test: it asserts nothing, it reports. Run with `npm run bench -- [--duration 10]
// [--connections 50] [--warmup 2] [--no-build] [--no-baseline] [--profile DIR]`. REDIS_URL picks a
// Redis; otherwise a private redis-server is started. Only keys under a fresh `airlock-bench:<random>:`
// prefix are touched. Scenarios: bench/scenarios/; processes, Redis and the report: bench/lib/.
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RATE_LIMIT, startAirlock } from './lib/airlock.js'
import { startBaseline } from './lib/baseline.js'
import type { Target } from './lib/cannon.js'
import { measureMemory, memoryBaseline } from './lib/memory.js'
import { parseOptions, type BenchOptions } from './lib/options.js'
import { openBenchRedis } from './lib/redis.js'
import { calibrate, report, TARGETS, type Results } from './lib/report.js'
import { build, log, Resources, StartError } from './lib/resources.js'
import { bareSignAuditedScenario, bareSignScenario, bareVerifyScenario } from './scenarios/bare.js'
import { introspectScenario } from './scenarios/introspect.js'
import { issueScenario } from './scenarios/issue.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const RESULTS = join(ROOT, 'bench', 'results', 'latest.json')

async function main(o: BenchOptions, res: Resources): Promise<number> {
  if (o.build && !build(ROOT)) return 1
  const prefix = `airlock-bench:${randomBytes(6).toString('hex')}:`
  const redis = await openBenchRedis(res, prefix)
  const airlock = await startAirlock(res, {
    root: ROOT,
    redisUrl: redis.url,
    prefix,
    profileDir: o.profileDir,
  })
  log(`server ready on ${airlock.base} (pid ${airlock.child.pid})`)
  const server: Target = { pid: airlock.child.pid ?? 0, redis: redis.client, connections: o.connections }

  // a. issue, then Redis memory right after it (warm-up sessions are live too and counted).
  const before = await memoryBaseline(redis.client, prefix)
  const issue = await issueScenario(server, airlock, o)
  log('measuring Redis memory')
  const memory = await measureMemory(redis.client, prefix, before)

  // Calibration, each bare route run right after its Airlock counterpart (the machine's speed drifts).
  const baseline = o.baseline
    ? await startBaseline(res, { root: ROOT, redisUrl: redis.url, keyPrefix: `${prefix}bare:` })
    : null
  const bare: Target | null = baseline && { ...server, pid: baseline.child.pid ?? 0 }
  const bareSign = baseline && bare ? await bareSignScenario(bare, baseline, o) : null
  const bareSignAudited = baseline && bare ? await bareSignAuditedScenario(bare, baseline, o) : null

  // b. introspect
  const introspect = await introspectScenario(server, airlock, o)
  const bareVerify = baseline && bare ? await bareVerifyScenario(bare, baseline, o) : null

  const stopped = await airlock.stop()
  const cpuList = cpus()
  const results: Results = {
    env: {
      node: process.version,
      cpus: cpuList.length,
      cpuModel: cpuList[0]?.model ?? '?',
      redis: `${redis.version} (${redis.private ? 'private redis-server' : 'REDIS_URL'})`,
      durationSeconds: o.duration,
      warmupSeconds: o.warmup,
      connections: o.connections,
    },
    issue,
    introspect: introspect.scenario,
    bareSign,
    bareSignAudited,
    bareVerify,
    sanity: introspect.sanity,
    memory,
    privateRedis: redis.private,
    server: stopped,
  }
  const calibration = calibrate(issue, introspect.scenario, bareSign, bareVerify, bareSignAudited)
  console.log(report(results, calibration))
  await writeResults(results, calibration.summary)
  return 0
}

async function writeResults(r: Results, calibration: ReturnType<typeof calibrate>['summary']) {
  const json = {
    at: new Date().toISOString(),
    environment: r.env,
    targets: TARGETS,
    scenarios: {
      issue: r.issue,
      introspect: r.introspect,
      bareSign: r.bareSign,
      bareSignAudited: r.bareSignAudited,
      bareVerify: r.bareVerify,
    },
    calibration,
    introspectSanity: r.sanity,
    redisPerSession: r.memory,
    server: { exitCode: r.server.exitCode, logLines: r.server.log.lines, warnings: r.server.log.warnings },
    config: { ratePerAgentPerMinute: RATE_LIMIT },
  }
  await mkdir(dirname(RESULTS), { recursive: true })
  await writeFile(RESULTS, `${JSON.stringify(json, null, 2)}\n`)
  log(`wrote ${RESULTS}`)
}

const resources = new Resources()
resources.closeOnSignals()
const code = await main(parseOptions(process.argv.slice(2)), resources)
  .catch((e: unknown) => {
    if (e instanceof StartError) log(`the server could not start: ${e.message}`)
    else log(`failed: ${(e as Error).stack ?? String(e)}`)
    return 1
  })
  .finally(() => resources.close())
process.exit(code)
