// The command line of `npm run bench`: [--duration 10] [--connections 50] [--warmup 2] [--no-build]
// [--no-baseline] [--profile DIR].
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'

export interface BenchOptions {
  /** Seconds per measured run. */
  duration: number
  connections: number
  /** Seconds of warm-up before each run (0: none). */
  warmup: number
  /** Run `npm run build` first (the server runs from dist/). */
  build: boolean
  /** Run the bare calibration routes (bench/baseline-server.ts). */
  baseline: boolean
  /** Write a V8 CPU profile of the server into this directory (open it in Chrome DevTools). */
  profileDir: string | null
}

/** The options, or exits 64 (usage) naming the bad one. */
export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '2' },
      'no-build': { type: 'boolean', default: false },
      'no-baseline': { type: 'boolean', default: false },
      profile: { type: 'string' },
    },
    allowPositionals: false,
  })
  return {
    duration: positiveInt('duration', values.duration),
    connections: positiveInt('connections', values.connections),
    warmup: positiveInt('warmup', values.warmup, 0),
    build: !values['no-build'],
    baseline: !values['no-baseline'],
    profileDir: values.profile ? resolve(values.profile) : null,
  }
}

function positiveInt(name: string, v: string, min = 1): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) {
    console.error(`bench: --${name} must be an integer >= ${min}`)
    process.exit(64)
  }
  return n
}
