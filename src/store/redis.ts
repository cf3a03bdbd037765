// The production store: Redis, shared by every replica. Lua (scripts.ts) for atomic changes;
// any connection problem surfaces as StoreUnavailableError (a 503), never as a hang or a crash.
// With store.replica_acks, the writes that grant, decide, revoke or lock go through the durable
// writer (durable.ts): pipelined with WAIT on a connection of their own, so a slow replica never
// holds up reads.
// The parts, each a file of redis/: sessions, locks, the audit log.
import { StoreUnavailableError } from '../errors.js'
import {
  connectRedis,
  guard,
  onReconnect,
  openRedis,
  openSubscriber,
  urlConnection,
  type RedisClient,
  type RedisConnection,
} from '../redis/client.js'
import { defineScript } from '../redis/script.js'
import { redisKeys } from './keys.js'
import * as lua from './scripts.js'
import { createWaiters } from './waiters.js'
import { createDurableWriter, ReplicaAckError, type Durability } from './durable.js'
import type { Store } from './types.js'
import { redisAudit } from './redis/audit.js'
import { lockKeysOf, type RedisContext, type Script } from './redis/context.js'
import { redisLocks } from './redis/locks.js'
import { redisProfiles } from './redis/profiles.js'
import { redisSessions } from './redis/sessions.js'
import { redisConsoleRecords } from './console-records.js'

export interface RedisStore extends Store {
  readonly redis: RedisClient
}

export async function createRedisStore(
  target: RedisConnection | string,
  prefix: string,
  opts: { durability?: Durability } = {},
): Promise<RedisStore> {
  const conn = typeof target === 'string' ? urlConnection(target) : target
  const redis = openRedis(conn, { enableAutoPipelining: true })
  await connectRedis(redis)
  const k = redisKeys(prefix)
  const durability = opts.durability?.acks ? opts.durability : null
  // WAIT blocks its connection, so acknowledged writes get one of their own; its commands may take
  // the whole replica_ack_timeout (cut short, a WAIT would report acknowledgements as missing and
  // keep blocking the connection on the server, under the writes sent after it).
  const writes = durability ? openRedis(conn, { commandTimeout: durability.timeoutMs + 2000 }) : null
  if (writes) {
    try {
      await connectRedis(writes)
    } catch (e) {
      redis.disconnect()
      throw e
    }
  }
  const writer = writes && durability ? createDurableWriter(writes, durability) : null
  // Defined on the acknowledged writes' connection too: the durable writer runs them by name.
  const script = (name: string, src: string): Script => {
    if (writes) defineScript(writes, name, src)
    return defineScript(redis, name, src)
  }
  /** See RedisContext.acked. */
  const acked = (
    name: string,
    src: string,
    wrote: (reply: unknown) => boolean = (r) => r === 'ok',
  ): Script => {
    const direct = script(name, src)
    if (!writer) return direct
    return (...args) =>
      writer.run(name, ...args).catch((e: unknown) => {
        if (e instanceof ReplicaAckError && !wrote(e.reply)) return e.reply
        throw e
      })
  }
  const leaseScript = script('alAcquireLease', lua.ACQUIRE_LEASE)
  const ctx: RedisContext = { redis, k, script, acked, ...lockKeysOf(k), profiles: redisProfiles(redis, k) }

  // Subscriptions need their own connection; opened on first use of ?wait=.
  let sub: RedisClient | null = null
  const waiters = createWaiters()
  let subscribed: Promise<void> | null = null
  const subscriber = (): Promise<void> => {
    subscribed ??= (async () => {
      sub = openSubscriber(conn)
      // One message names one session, or several separated by spaces (changes made together).
      sub.on('message', (_ch: string, ids: string) => {
        for (const id of ids.split(' ')) waiters.wake(id)
      })
      // Changes published while the subscription was down are lost: every waiter reads again.
      onReconnect(sub, () => waiters.wakeAll())
      await sub.connect()
      await sub.subscribe(k.changes)
    })().catch((e: unknown) => {
      subscribed = null
      sub?.disconnect()
      throw new StoreUnavailableError(`Redis subscribe failed: ${(e as Error).message}`, e)
    })
    return subscribed
  }

  let changed: string[] = []
  const publishChanged = () => {
    const ids = changed
    changed = []
    for (let i = 0; i < ids.length; i += lua.PUBLISH_IDS)
      redis.publish(k.changes, ids.slice(i, i + lua.PUBLISH_IDS).join(' ')).catch(() => {})
  }

  return {
    kind: 'redis',
    redis,
    ping: () =>
      guard('ping', async () => {
        // A write, not a read: a demoted primary (READONLY), a full one (OOM) or one missing the
        // replicas it requires (NOREPLICAS) all still answer reads, yet nothing could be issued.
        await redis.set(k.barrier, Date.now(), 'PX', 60_000)
      }),
    confirmWrites: () =>
      guard('write', async () => {
        // Any write replicates after every earlier one: its acknowledgement covers them all.
        if (writer) await writer.run('set', k.barrier, Date.now(), 'PX', 60_000)
      }),
    async close() {
      sub?.disconnect()
      writes?.disconnect()
      redis.disconnect()
    },

    ...redisSessions(ctx),
    ...redisLocks(ctx),
    ...redisAudit(ctx),
    ...redisConsoleRecords(redis, k),

    acquireLease: (name, owner, ttlMs) =>
      guard('lease', async () => (await leaseScript(1, k.lease(name), owner, ttlMs)) === 1),

    publishChange(sessionId) {
      // Changes made in the same turn of the event loop (a batch of expiries) go in one message.
      changed.push(sessionId)
      if (changed.length === 1) setImmediate(publishChanged)
    },
    async watchChange(sessionId, ms, signal) {
      await subscriber()
      return { changed: waiters.wait(sessionId, ms, signal) }
    },
  }
}
