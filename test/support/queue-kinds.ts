// The backends the job queue suite (queue-suite.ts) runs against, and how each gives a second
// replica's handle on the same queues.
import { randomBytes } from 'node:crypto'
import { inject } from 'vitest'
import type { Backend } from '../../src/backend.js'
import type { RedisConnection } from '../../src/config/types.js'
import { createQueue, type Queue } from '../../src/queue/index.js'
import { connectRedis, openRedis, urlConnection, type RedisClient } from '../../src/redis/client.js'
import type { QueueName } from '../../src/store/keys.js'
import { deletePrefix } from './fixtures.js'

export type OpenQueue = <T>(name: QueueName, idOf: (job: T) => string) => Queue<T>

export interface QueueFixture {
  /** The queue `name` on a fresh backend of this kind. */
  queue: OpenQueue
  /** Another replica's handle on the same queues (memory: one process, the same queues). */
  peer(): Promise<OpenQueue>
  close(): Promise<void>
}

export interface QueueKind {
  name: string
  open(): Promise<QueueFixture>
}

export const memoryQueueKind: QueueKind = {
  name: 'memory',
  async open() {
    const backend: Backend = { kind: 'memory', clock: { now: Date.now } }
    const queues = new Map<QueueName, Queue<unknown>>()
    const queue: OpenQueue = <T>(name: QueueName, idOf: (job: T) => string) => {
      if (!queues.has(name)) queues.set(name, createQueue(backend, name, idOf) as Queue<unknown>)
      return queues.get(name) as Queue<T>
    }
    return { queue, peer: async () => queue, close: async () => {} }
  },
}

/** Queues in Redis at `target` (a URL or a topology), under a fresh prefix that `cleanup` deletes. */
export function redisQueueKind(
  name: string,
  target: () => RedisConnection | string,
  cleanup: (prefix: string) => Promise<void>,
): QueueKind {
  return {
    name,
    async open() {
      const t = target()
      const conn = typeof t === 'string' ? urlConnection(t) : t
      const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`
      const clients: RedisClient[] = []
      const handle = async (): Promise<OpenQueue> => {
        const redis = openRedis(conn)
        clients.push(redis)
        await connectRedis(redis)
        const backend: Backend = { kind: 'redis', redis, conn, prefix }
        return (name, idOf) => createQueue(backend, name, idOf)
      }
      return {
        queue: await handle(),
        peer: handle,
        async close() {
          for (const c of clients) c.disconnect()
          await cleanup(prefix)
        },
      }
    },
  }
}

/** The test run's own redis-server. */
export const localRedisQueueKind: QueueKind = redisQueueKind(
  'redis',
  () => inject('redisUrl'),
  (prefix) => deletePrefix(inject('redisUrl'), prefix),
)
