// The Redis a benchmark runs against: REDIS_URL, or a private redis-server (test/support's). Only
// keys under the run's fresh prefix are touched, and they are deleted at the end.
import { Redis } from 'ioredis'
import { redisServer } from '../../test/support/redis-server.js'
import { log, type Resources } from './resources.js'

export interface BenchRedis {
  url: string
  /** A connection of the benchmark's own (measurements and clean-up). */
  client: Redis
  /** A redis-server of this run's own (false: REDIS_URL). */
  private: boolean
  version: string
}

export const infoField = (info: string, name: string): string =>
  new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '?'

/** Opens the run's Redis; its keys under `prefix` go when `res` closes. */
export async function openBenchRedis(res: Resources, prefix: string): Promise<BenchRedis> {
  let url = process.env['REDIS_URL']
  if (url) log('using REDIS_URL')
  else {
    const server = await redisServer()
    res.defer('stopping redis-server', () => server.stop())
    url = server.url
    log(`started private redis-server on port ${server.port}`)
  }
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 })
  res.defer('disconnecting', async () => client.disconnect())
  await client.connect()
  res.defer(`could not delete keys under ${prefix}`, async () => {
    log(`deleted ${await deletePrefixKeys(client, prefix)} keys under ${prefix}`)
  })
  const version = infoField(await client.info('server'), 'redis_version')
  return { url, client, private: !process.env['REDIS_URL'], version }
}

async function deletePrefixKeys(r: Redis, prefix: string): Promise<number> {
  let deleted = 0
  let cursor = '0'
  do {
    const [next, found] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    if (found.length > 0) deleted += await r.del(...found)
  } while (cursor !== '0')
  return deleted
}

/** MEMORY USAGE counting every element of aggregate types (SAMPLES 0), not extrapolating from 5. */
export async function memoryUsage(r: Redis, key: string): Promise<number> {
  const n = (await r.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) as number | null
  return n ?? 0
}

export async function usedMemory(r: Redis): Promise<number> {
  return Number(infoField(await r.info('memory'), 'used_memory'))
}
