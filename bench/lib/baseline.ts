// The bare calibration routes (bench/baseline-server.ts) as a child process beside the server.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { freePort } from '../../test/support/redis-server.js'
import { stopChild, waitUntilAnswers } from './child.js'
import type { Resources } from './resources.js'

export interface Baseline {
  base: string
  child: ChildProcess
}

/** Starts it on a free port; resolves once POST /sign answers. */
export async function startBaseline(
  res: Resources,
  o: { root: string; redisUrl: string; keyPrefix: string },
): Promise<Baseline> {
  const port = await freePort()
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(o.root, 'bench', 'baseline-server.ts'), String(port), o.redisUrl, o.keyPrefix],
    { cwd: o.root, stdio: ['ignore', 'ignore', 'inherit'] },
  )
  res.defer('stopping the baseline server', () => stopChild(child))
  const base = `http://127.0.0.1:${port}`
  await waitUntilAnswers(
    child,
    async () => (await fetch(`${base}/sign`, { method: 'POST', signal: AbortSignal.timeout(1000) })).ok,
    {
      exited: () => 'the baseline server exited',
      timedOut: () => 'the baseline server did not answer within 30 s',
    },
  )
  return { base, child }
}

/** One token signed by the bare route (for the bare verify run). */
export async function bareSignOnce(base: string): Promise<string> {
  const res = await fetch(`${base}/sign`, { method: 'POST' })
  return ((await res.json()) as { token: string }).token
}
