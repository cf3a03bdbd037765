// `airlock audit verify`: reads the whole retained log from the store, a page at a time, and
// checks every chain, reporting progress on stderr.
// Checkpoint lines captured from the brokers' stdout (--checkpoints) also reveal a deleted tail
// even if whoever deleted it rewrote the stored chain heads.
import { readFile } from 'node:fs/promises'
import { verifyAuditLog, type VerifyProgress } from '../audit/read.js'
import { loadConfigFile } from '../config/load.js'
import { createRedisStore } from '../store/redis.js'
import { CliError, EXIT } from '../client/exit.js'

export async function readCheckpoints(path: string): Promise<Record<string, { seq: number; hash: string }>> {
  const heads: Record<string, { seq: number; hash: string }> = {}
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    if (!line.includes('"audit.checkpoint"') && !line.includes('"prev_hash"')) continue
    try {
      const e = JSON.parse(line) as { chain?: string; seq?: number; hash?: string }
      if (typeof e.chain === 'string' && typeof e.seq === 'number' && typeof e.hash === 'string') {
        if (!heads[e.chain] || (heads[e.chain] as { seq: number }).seq < e.seq)
          heads[e.chain] = { seq: e.seq, hash: e.hash }
      }
    } catch {
      // not an audit line
    }
  }
  return heads
}

/** How often progress is reported, at most (the first page is always reported). */
const PROGRESS_EVERY_MS = 1000

/** Progress on stderr (stdout stays the result): one line a second, or one line redrawn on a terminal. */
function progressReporter(): (p: VerifyProgress) => void {
  const started = Date.now()
  let last = 0
  return (p) => {
    const now = Date.now()
    if (last !== 0 && now - last < PROGRESS_EVERY_MS) return
    last = now
    const secs = ((now - started) / 1000).toFixed(1)
    const line = `verifying: ${p.events} events in ${p.chains} chain(s), ${secs}s`
    process.stderr.write(process.stderr.isTTY ? `\r${line}` : `${line}\n`)
  }
}

export async function auditVerify(configFile: string, checkpoints?: string): Promise<number> {
  const config = await loadConfigFile(configFile)
  if (!config.store.redis)
    throw new CliError(
      'store.redis_url, store.sentinel or store.cluster is required to read the audit log',
      EXIT.config,
    )
  const store = await createRedisStore(config.store.redis, config.store.keyPrefix).catch((e: unknown) => {
    throw new CliError((e as Error).message, EXIT.unavailable)
  })
  try {
    const heads = checkpoints ? await readCheckpoints(checkpoints) : {}
    const r = await verifyAuditLog(store, heads, progressReporter())
    if (process.stderr.isTTY) process.stderr.write('\n')
    for (const c of r.chains) process.stdout.write(`chain ${c.chain}: events ${c.first}..${c.last}\n`)
    for (const n of r.notes) process.stdout.write(`NOTE ${n}\n`)
    for (const p of r.problems) process.stdout.write(`PROBLEM ${p}\n`)
    process.stdout.write(
      r.ok ? `ok: ${r.events} events verified\n` : `FAILED: ${r.problems.length} problem(s)\n`,
    )
    return r.ok ? EXIT.ok : EXIT.problems
  } finally {
    await store.close()
  }
}
