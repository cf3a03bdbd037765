// What a part of Airlock that keeps shared state is given: Redis (shared by every replica and
// surviving restarts) or this process's memory. src/backend.ts opens it from the config.
import type { RedisClient, RedisConnection } from '../redis/client.js'

export type Backend = MemoryBackend | RedisBackend

export interface MemoryBackend {
  readonly kind: 'memory'
  readonly clock: { now(): number }
}

export interface RedisBackend {
  readonly kind: 'redis'
  /** The store's connection, shared by the parts that need no connection of their own. */
  readonly redis: RedisClient
  /** Where Redis is, for the parts that do (subscriptions, the vault). */
  readonly conn: RedisConnection
  /** store.key_prefix. */
  readonly prefix: string
  /** Waits until the replicas (store.replica_acks) hold every write made so far; see Store.confirmWrites. */
  readonly confirmWrites?: () => Promise<void>
}
