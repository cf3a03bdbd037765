// Measures what verifying the audit log costs: wall time, peak memory above the baseline, and the
// longest the event loop stalls meanwhile (what /healthz would wait). A private redis-server, the
// real audit writer (four chains, events shaped like session.issued) and the real verifier.
// Not a test: it asserts nothing, it reports, and extrapolates to a million events.
// Run: `node --expose-gc --import tsx bench/audit-verify.ts [--n 200000]`.
import { randomBytes } from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { createAuditLog } from '../src/audit/log.js'
import { verifyAuditLog } from '../src/audit/read.js'
import { systemClock } from '../src/clock.js'
import { createRedisStore } from '../src/store/redis.js'
import { redisServer } from '../test/support/redis-server.js'

const { values: args } = parseArgs({ options: { n: { type: 'string', default: '200000' } } })
const N = Number(args.n)
const CHAINS = 4
const log = (s: string) => process.stderr.write(`bench: ${s}\n`)
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`
const gc = (globalThis as { gc?: () => void }).gc

const redis = await redisServer()
const store = await createRedisStore(redis.url, `airlock-bench:${randomBytes(4).toString('hex')}:`)
try {
  log(`writing ${N} events on ${CHAINS} chains...`)
  const writers = Array.from({ length: CHAINS }, (_, i) =>
    createAuditLog({
      store,
      chain: `ch_bench${i}`,
      clock: systemClock,
      retentionMs: () => 90 * 86_400_000,
      out: null,
      checkpointEveryMs: 3_600_000,
    }),
  )
  const details = (i: number) => ({
    agent: 'build-bot',
    environment: 'staging',
    operation_class: 'read',
    provider: 'internal-api',
    task: { id: `JIRA-${i}`, description: 'migrate the reporting tables to the new schema' },
    decision: 'allowed by "bots work freely in staging"',
    approvals_required: 0,
    ttl_seconds: 900,
    expires_at: new Date(Date.now() + 900_000).toISOString(),
  })
  for (let done = 0; done < N; done += 4000) {
    await Promise.all(
      Array.from({ length: Math.min(4000, N - done) }, (_, k) =>
        (writers[k % CHAINS] as (typeof writers)[number]).record({
          type: 'session.issued',
          actor: 'build-bot',
          session_id: `ses_${randomBytes(12).toString('hex')}`,
          details: details(done + k),
        }),
      ),
    )
  }
  for (const w of writers) w.close()

  gc?.()
  const base = process.memoryUsage()
  let peakHeap = base.heapUsed
  let peakRss = base.rss
  // What the verifier keeps (not garbage awaiting collection): the heap after a full GC, now and then.
  let retained = 0
  let pages = 0
  const sample = () => {
    const m = process.memoryUsage()
    peakHeap = Math.max(peakHeap, m.heapUsed)
    peakRss = Math.max(peakRss, m.rss)
    if (gc && ++pages % 50 === 0) {
      gc()
      retained = Math.max(retained, process.memoryUsage().heapUsed - base.heapUsed)
    }
  }
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  const started = performance.now()
  const cpu0 = process.cpuUsage()
  const r = await verifyAuditLog(store, {}, sample)
  const ms = performance.now() - started
  const cpu = process.cpuUsage(cpu0)
  // On a busy machine wall time includes waiting for a core; CPU time is what the work costs.
  const cpuMs = (cpu.user + cpu.system) / 1000
  delay.disable()
  sample()

  const perMillion = (ms / r.events) * 1_000_000
  process.stdout.write(
    [
      `events verified: ${r.events} (${r.chains.length} chains), ok: ${r.ok}`,
      `time: ${(ms / 1000).toFixed(2)} s, ${Math.round(r.events / (ms / 1000))} events/s`,
      `per million events (extrapolated): ${(perMillion / 1000).toFixed(1)} s wall, ${((cpuMs / r.events) * 1000).toFixed(1)} s CPU of this process (Redis not included)`,
      `peak memory above baseline: heap +${mb(peakHeap - base.heapUsed)} (garbage included), rss +${mb(peakRss - base.rss)}`,
      gc
        ? `retained heap above baseline (after GC every 50 pages): at most +${mb(retained)}`
        : 'run with --expose-gc to see the retained heap',
      `event loop delay while verifying: p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms`,
      '',
    ].join('\n'),
  )
} finally {
  await store.close()
  await redis.stop()
}
