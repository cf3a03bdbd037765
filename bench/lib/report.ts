// The comparison table `npm run bench` prints, and the calibration against the bare routes.
import type { Scenario } from './cannon.js'
import type { Memory } from './memory.js'

export const TARGETS = {
  issueRps: 7000,
  introspectRps: 8500,
  p99Ms: 15,
  bytesPerSession: 1024,
  /** Issuing (auth, policy, audit, one Redis round trip, signature) against the bare sign route. */
  issueShareOfBareSign: 0.9,
} as const
/** The reference figures for the bare calibration routes, on the 2-core machine the targets were set on. */
export const REFERENCE_BARE = { signRps: 15_000, verifyRps: 12_000 } as const

export const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const mark = (ok: boolean) => (ok ? 'ok' : 'MISS')

export interface Environment {
  node: string
  cpus: number
  cpuModel: string
  redis: string
  durationSeconds: number
  warmupSeconds: number
  connections: number
}

export interface Results {
  env: Environment
  issue: Scenario
  introspect: Scenario
  bareSign: Scenario | null
  /** /sign with a hash-chained audit event in the same write: the floor under issue's share. */
  bareSignAudited: Scenario | null
  bareVerify: Scenario | null
  sanity: { before: string; after: string }
  memory: Memory
  privateRedis: boolean
  server: { exitCode: number | null; log: { lines: number; warnings: Record<string, number> } }
}

/**
 * The targets were set on a machine where the bare routes reach REFERENCE_BARE. Airlock's share of
 * the bare route measured here, against the target's share of the reference bare figure, says
 * whether the target is met independent of this machine's speed. (The printed wording and the
 * JSON field names stay as results/latest.json and earlier runs have them.)
 */
export function calibrate(
  issue: Scenario,
  introspect: Scenario,
  sign: Scenario | null,
  verify: Scenario | null,
  signAudited: Scenario | null = null,
) {
  const lines: string[] = []
  if (!sign || !verify) return { lines, summary: null }
  const rows = [
    { s: issue, bare: sign, target: TARGETS.issueRps, reference: REFERENCE_BARE.signRps },
    { s: introspect, bare: verify, target: TARGETS.introspectRps, reference: REFERENCE_BARE.verifyRps },
  ].map(({ s, bare, target, reference }) => ({
    name: s.name,
    bare: bare.name,
    bareRps: Math.round(bare.rps),
    briefBareRps: reference,
    share: s.rps / bare.rps,
    targetShare: target / reference,
    scaledTarget: Math.round((target / reference) * bare.rps),
    met: s.rps / bare.rps >= target / reference,
  }))
  lines.push('  calibration: the bare reference routes, run here right after each Airlock run (same Redis)')
  for (const r of [sign, verify]) {
    const reference = r === sign ? REFERENCE_BARE.signRps : REFERENCE_BARE.verifyRps
    lines.push(
      `    ${r.name.padEnd(11)}  ${fmt(r.rps).padStart(7)} req/s, p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms ` +
        `(the reference machine: ~${fmt(reference)})`,
    )
  }
  for (const r of rows) {
    lines.push(
      `    ${r.name.padEnd(11)}  ${(100 * r.share).toFixed(0)}% of ${r.bare} (target: ${(100 * r.targetShare).toFixed(0)}%, ` +
        `i.e. >= ${fmt(r.scaledTarget)} req/s on this machine) ${mark(r.met)}`,
    )
  }
  const share = issue.rps / sign.rps
  lines.push(
    `    goal: issue >= ${100 * TARGETS.issueShareOfBareSign}% of bare sign with p99 <= ${TARGETS.p99Ms} ms: ` +
      `${(100 * share).toFixed(0)}%, p99 ${fmt(issue.p99, 1)} ms ` +
      mark(share >= TARGETS.issueShareOfBareSign && issue.p99 <= TARGETS.p99Ms),
  )
  if (signAudited) {
    const floor = signAudited.rps / sign.rps
    lines.push(
      `    floor: bare sign + audit event ${fmt(signAudited.rps)} req/s, ${(100 * floor).toFixed(0)}% of bare sign ` +
        `(p99 ${fmt(signAudited.p99, 1)} ms): no issue route that audits each grant gets above it here`,
    )
  }
  return { lines, summary: rows }
}

const row = (s: Scenario, target: number) =>
  `  ${s.name.padEnd(11)}  ${fmt(s.rps).padStart(7)} (>= ${fmt(target)} ${mark(s.rps >= target)})`.padEnd(
    40,
  ) +
  `  ${fmt(s.p50, 1).padStart(6)}  ${fmt(s.p99, 1).padStart(6)} (<= ${TARGETS.p99Ms} ${mark(s.p99 <= TARGETS.p99Ms)})`.padEnd(
    29,
  ) +
  `  ${fmt(s.requests).padStart(9)}  ${fmt(s.non2xx).padStart(7)}  ${fmt(s.errors).padStart(6)}`

/** The summary printed on stdout. */
export function report(r: Results, calibration: ReturnType<typeof calibrate>): string {
  const { env, issue, introspect, memory } = r
  const out: string[] = []
  const p = (s = '') => out.push(s)
  p('Airlock benchmark')
  p(
    `  node ${env.node} | ${env.cpus} CPU (${env.cpuModel}) | redis ${env.redis} | ` +
      `${env.durationSeconds} s per run, ${env.warmupSeconds} s warm-up, ${env.connections} connections`,
  )
  p('  (autocannon, server and Redis share the same machine)')
  p()
  p('  scenario     req/s (target)          p50 ms  p99 ms (target)     requests  non-2xx  errors')
  p(row(issue, TARGETS.issueRps))
  p(row(introspect, TARGETS.introspectRps))
  p(`  introspect sanity: before run ${r.sanity.before}, after run ${r.sanity.after}`)
  for (const line of calibration.lines) p(line)
  p('  CPU per request: server (its event loop), Redis, load generator; how busy the machine was')
  for (const s of [issue, introspect, r.bareSign, r.bareSignAudited, r.bareVerify].filter(
    (x): x is Scenario => x !== null,
  )) {
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
        `(includes audit stream and allocator overhead${r.privateRedis ? '' : '; shared Redis, noisy'})`,
    )
  }
  p(
    `  Audit stream (retention-bound log, not counted above): ${fmt(memory.audit.bytesPerEvent)} B/event ` +
      `(${fmt(memory.audit.events)} events, ${fmt(memory.audit.streamBytes)} B, ` +
      `${fmt(memory.audit.eventsPerSession, 2)} events per session)`,
  )
  p()
  const warnEntries = Object.entries(r.server.log.warnings)
  p(
    `  server: exit ${r.server.exitCode ?? '?'} after SIGTERM; ${fmt(r.server.log.lines)} log lines, ` +
      `${warnEntries.reduce((a, [, n]) => a + n, 0)} warn/error`,
  )
  for (const [msg, n] of warnEntries.slice(0, 10)) p(`    ${n}x ${msg}`)
  return out.join('\n')
}
