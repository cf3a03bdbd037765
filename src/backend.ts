// Where shared state lives, decided once, here, from the config: Redis (shared by every replica and
// surviving restarts) or this process's memory (`airlock dev` and tests only). The store, the job
// queues (src/queue), the Slack outbox, provider state, the deployment id, the rate limit and the
// vault's default storage all take the Backend and pick their implementation from its `kind`.
import type { Clock } from './clock.js'
import type { AirlockConfig, RedisConnection } from './config/types.js'
import { checkRedis } from './redis/client.js'
import type { Durability } from './store/durable.js'
import { createMemoryStore } from './store/memory.js'
import { createRedisStore } from './store/redis.js'
import type { Backend } from './store/backend.js'
import type { Store } from './store/types.js'

export type { Backend, MemoryBackend, RedisBackend } from './store/backend.js'

/** The Redis the config names, or null: memory, which only `airlock dev` and tests may use. */
export function chooseRedis(config: AirlockConfig, allowMemory: boolean): RedisConnection | null {
  if (config.store.redis) return config.store.redis
  if (allowMemory) return null
  throw new Error(
    'store.redis_url (or store.sentinel or store.cluster) is required: `airlock serve` keeps sessions in Redis (use `airlock dev` to try it without)',
  )
}

/**
 * Opens the backend the config names and the session store on it. Redis is checked first (an
 * evicting Redis is refused; `warn` hears what is risky but allowed).
 */
export async function openBackend(
  config: AirlockConfig,
  opts: { clock: Clock; allowMemory: boolean; durability?: Durability; warn: (msg: string) => void },
): Promise<{ backend: Backend; store: Store }> {
  const conn = chooseRedis(config, opts.allowMemory)
  if (!conn) return { backend: { kind: 'memory', clock: opts.clock }, store: createMemoryStore(opts.clock) }
  const prefix = config.store.keyPrefix
  const store = await createRedisStore(conn, prefix, { durability: opts.durability })
  try {
    for (const w of await checkRedis(store.redis, { replicaAcks: config.store.replicaAcks })) opts.warn(w)
  } catch (e) {
    await store.close()
    throw e
  }
  const confirmWrites = () => store.confirmWrites()
  return { backend: { kind: 'redis', redis: store.redis, conn, prefix, confirmWrites }, store }
}
