// Start-up checks on the Redis we are about to trust with sessions.
import { Cluster, type Redis } from 'ioredis'
import type { RedisClient } from './connect.js'

const field = (info: string, name: string): string | null =>
  new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? null

/**
 * Throws when Redis may evict keys (a live session silently gone); returns warnings otherwise.
 * A Cluster is checked on every primary.
 */
export async function checkRedis(
  client: RedisClient,
  opts: { replicaAcks?: number } = {},
): Promise<string[]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client]
  const warnings: string[] = []
  for (const node of nodes) warnings.push(...(await checkNode(node, opts.replicaAcks ?? 0)))
  return [...new Set(warnings)]
}

async function checkNode(redis: Redis, replicaAcks: number): Promise<string[]> {
  const memory = await redis.info('memory')
  const policy = field(memory, 'maxmemory_policy')
  if (policy !== null && policy !== 'noeviction') {
    throw new Error(
      `Redis maxmemory-policy is '${policy}', which can evict sessions, locks and audit events; set it to 'noeviction'`,
    )
  }
  const warnings: string[] = []
  const persistence = await redis.info('persistence')
  const aof = field(persistence, 'aof_enabled') === '1'
  let rdb = true
  try {
    const save = (await redis.config('GET', 'save')) as string[]
    rdb = (save[1] ?? '').trim() !== ''
  } catch {
    // CONFIG may be disabled on managed Redis; then we cannot tell and do not warn.
  }
  if (!aof && !rdb) {
    warnings.push(
      'Redis persists nothing (no AOF, no RDB): a Redis restart forgets every session and lock (tokens then introspect inactive)',
    )
  }
  if (replicaAcks > 0) {
    const replicas = Number(field(await redis.info('replication'), 'connected_slaves') ?? 0)
    if (replicas < replicaAcks)
      warnings.push(
        `store.replica_acks is ${replicaAcks} but the Redis primary has ${replicas} replica(s) connected: grants, revocations and locks answer 503 until enough replicas are back`,
      )
  }
  return warnings
}
