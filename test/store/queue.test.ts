// The job queue suite (test/support/queue-suite.ts) in memory and on one Redis, the Redis keys it
// keeps (jobs queued before an upgrade are still found after it), and its scripts loading again
// like the store's when Redis forgot them.
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { connectRedis, openRedis, urlConnection } from '../../src/redis/client.js'
import { revocationQueue, type RevocationJob } from '../../src/sessions/revoker.js'
import { createSlackOutbox } from '../../src/slack/outbox.js'
import { createRedisStore } from '../../src/store/redis.js'
import { deletePrefix } from '../helper.js'
import { redisServer } from '../support/redis-server.js'
import { queueSuite } from '../support/queue-suite.js'
import { localRedisQueueKind, memoryQueueKind } from '../support/queue-kinds.js'

describe.each([memoryQueueKind, localRedisQueueKind])('$name job queue', queueSuite)

describe('queue keys in Redis', () => {
  const url = inject('redisUrl')
  const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`
  const raw = new Redis(url)
  const conn = urlConnection(url)
  const redis = openRedis(conn)
  afterAll(async () => {
    raw.disconnect()
    redis.disconnect()
    await deletePrefix(url, prefix)
  })

  it('finds revocations and Slack syncs queued under the keys and format of earlier versions', async () => {
    await connectRedis(redis)
    const backend = { kind: 'redis', redis, conn, prefix } as const
    const job: RevocationJob = {
      id: 'rev_ses_old',
      provider: 'ext-api',
      sessionId: 'ses_old',
      environment: 'staging',
      operationClass: 'read',
      handle: { role: 'r_old' },
      expiresAt: 1000,
      attempts: 3,
      lastError: 'backend unreachable',
    }
    // Written as a broker of an earlier version wrote them (literal key names, not keys.ts).
    await raw.hset(`${prefix}{al}:rj`, job.id, JSON.stringify(job))
    await raw.zadd(`${prefix}{al}:rq`, 500, job.id)
    const sync = { session: 'ses_old', nonce: 'abc123', attempts: 1, lastError: 'ratelimited' }
    await raw.hset(`${prefix}{al}:sj`, sync.session, JSON.stringify(sync))
    await raw.zadd(`${prefix}{al}:sq`, 500, sync.session)

    const revocations = revocationQueue(backend)
    expect(await revocations.size()).toBe(1)
    const [claimed] = await revocations.claim(1000, 60_000, 10)
    expect(claimed).toEqual(job)
    await revocations.finish(claimed!, 1000)
    expect(await raw.exists(`${prefix}{al}:rq`, `${prefix}{al}:rj`)).toBe(0)

    const outbox = createSlackOutbox(backend)
    expect(await outbox.claim(1000, 30_000, 10)).toEqual([sync])
    // A change queued now keeps the old job's attempt count, under the same keys.
    await outbox.enqueue('ses_old', 2000)
    expect(JSON.parse((await raw.hget(`${prefix}{al}:sj`, 'ses_old')) ?? '{}')).toMatchObject({
      session: 'ses_old',
      attempts: 1,
    })
    expect(Number(await raw.zscore(`${prefix}{al}:sq`, 'ses_old'))).toBe(31_000)
  })
})

describe('scripts Redis forgot (a restart, a failover, SCRIPT FLUSH)', () => {
  it('the queue and the store on one connection load theirs again', async () => {
    // A private server: flushing the script cache of the shared one would touch others' clients.
    const server = await redisServer()
    const store = await createRedisStore(server.url, 'airlock-test:')
    const raw = new Redis(server.url)
    try {
      const backend = {
        kind: 'redis',
        redis: store.redis,
        conn: urlConnection(server.url),
        prefix: 'airlock-test:',
      } as const
      const queue = revocationQueue(backend)
      const job = (id: string): RevocationJob => ({
        id,
        provider: 'ext-api',
        sessionId: id.slice(4),
        environment: 'staging',
        operationClass: 'read',
        handle: null,
        expiresAt: 1000,
        attempts: 0,
        lastError: null,
      })
      await queue.put(job('rev_ses_1'), 500)
      expect(await store.acquireLease('sweeper', 'a', 10_000)).toBe(true)
      // Both scripts were sent once on this connection: next time only their SHA-1 goes (NOSCRIPT now).
      await raw.script('FLUSH')
      await queue.put(job('rev_ses_2'), 600)
      expect((await queue.claim(1000, 60_000, 10)).map((j) => j.id)).toEqual(['rev_ses_1', 'rev_ses_2'])
      expect(await store.acquireLease('sweeper', 'b', 10_000)).toBe(false)
    } finally {
      raw.disconnect()
      await store.close()
      await server.stop()
    }
  })
})
