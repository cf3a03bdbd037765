// `airlock audit verify`: reads the whole retained log from the store and checks every chain.
// Checkpoint lines captured from the brokers' stdout (--checkpoints) also reveal a deleted tail
// even if whoever deleted it rewrote the stored chain heads.
import { readFile } from 'node:fs/promises'
import { verifyAuditLog } from '../audit/read.js'
import { loadConfigFile } from '../config/load.js'
import { createRedisStore } from '../store/redis.js'
import { CliError, EXIT } from './exit.js'

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
    const r = await verifyAuditLog(store, heads)
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
