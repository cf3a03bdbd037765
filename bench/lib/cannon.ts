// One measured run: autocannon POSTing one body to one URL, with the CPU each side spent per request.
import autocannon from 'autocannon'
import type { Redis } from 'ioredis'
import { cpuSnapshot, type CpuSnapshot } from './cpu.js'
import { log } from './resources.js'

export interface Scenario {
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

/** Where load goes and what is measured meanwhile: the server's process and Redis. */
export interface Target {
  pid: number
  redis: Redis
  connections: number
}

export async function cannon(
  target: Target,
  run: { name: string; url: string; authorization: string; body: unknown; seconds: number },
): Promise<Scenario> {
  const before = await cpuSnapshot(target.pid, target.redis)
  const r = await autocannon({
    url: run.url,
    method: 'POST',
    connections: target.connections,
    duration: run.seconds,
    headers: run.authorization
      ? { authorization: run.authorization, 'content-type': 'application/json' }
      : { 'content-type': 'application/json' },
    body: JSON.stringify(run.body),
  })
  const after = await cpuSnapshot(target.pid, target.redis)
  const statusCodes: Record<string, number> = {}
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = s.count ?? 0
  const n = Math.max(1, r.requests.total)
  const us = (k: keyof CpuSnapshot) => Math.round(((after[k] - before[k]) * 1e6) / n)
  return {
    name: run.name,
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

/** A warm-up of `warmup` seconds (none when 0), then the measured run. */
export async function warmThenMeasure(
  target: Target,
  run: { name: string; url: string; authorization: string; body: unknown },
  seconds: { warmup: number; duration: number },
  say: { warmup?: string; run: string },
): Promise<Scenario> {
  if (seconds.warmup > 0) {
    if (say.warmup) log(say.warmup)
    await cannon(target, { ...run, name: `${run.name}-warmup`, seconds: seconds.warmup })
  }
  log(say.run)
  return cannon(target, { ...run, seconds: seconds.duration })
}
