// Start-up checks on the Redis we are about to trust with sessions.
import type { Redis } from 'ioredis'

const field = (info: string, name: string): string | null =>
  new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? null

/** Throws when Redis may evict keys (a live session silently gone); returns warnings otherwise. */
export async function checkRedis(redis: Redis): Promise<string[]> {
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
  return warnings
}
