// CPU seconds used so far: by a process (all threads, and its event loop's thread alone), by Redis
// (INFO), by this process (the load generator), and by the whole machine.
import type { Redis } from 'ioredis'
import { readFileSync } from 'node:fs'
import { infoField } from './redis.js'

export interface CpuSnapshot {
  server: number
  /** The event loop's thread alone: what bounds one process's throughput. */
  serverMain: number
  redis: number
  loadGen: number
  machineBusy: number
  machineTotal: number
}

const TICK = 100 // USER_HZ on Linux

/** Fields after the ")" of the command name: utime and stime are the 12th and 13th. */
const ticks = (file: string) => {
  const stat = readFileSync(file, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / TICK
}

export async function cpuSnapshot(pid: number, redis: Redis): Promise<CpuSnapshot> {
  const info = await redis.info('cpu')
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
