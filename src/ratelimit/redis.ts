// The counter in Redis, shared by every replica. A replica leases counts from the shared window a
// block at a time (INCRBY, in a script with the window's expiry) and spends them locally, so most
// takes need no Redis round trip. Leased counts are counted against the limit: the limit is never
// exceeded; at worst a replica's unspent lease goes unused until the window ends.
import { StoreUnavailableError } from '../errors.js'
import type { RedisClient } from '../redis/client.js'
import { defineScript } from '../redis/script.js'
import { RATE_LIMIT } from '../store/scripts.js'
import type { Counter, Taken } from './types.js'

/** Counts leased per Redis call: 1 for small limits (exact), up to 5% of the limit for large ones. */
export const leaseSize = (max: number): number => Math.max(1, Math.floor(max / 20))

interface Lease {
  /** The limit it was leased under: a take under another (a reload) drops it. */
  max: number
  left: number
  used: number
  until: number
  /** The last refill got less than a block: the window's shared budget is spent. */
  exhausted: boolean
}

export function redisCounter(redis: RedisClient, namespace: string, windowMs: number): Counter {
  const call = defineScript<[number, number]>(redis, 'alRateLimit', RATE_LIMIT, 1)
  const leases = new Map<string, Lease>()
  // One refill per key at a time: takes arriving while it travels wait for it, so a burst takes
  // one block, not one block each.
  const refills = new Map<string, Promise<void>>()

  const refill = (key: string, max: number): Promise<void> => {
    let p = refills.get(key)
    if (!p) {
      const block = leaseSize(max)
      p = call(namespace + key, windowMs, block)
        .then(([total, ttl]) => {
          const granted = Math.max(0, Math.min(block, max - (total - block)))
          if (leases.size > 10_000) leases.clear()
          leases.set(key, {
            max,
            left: granted,
            used: total - block,
            until: Date.now() + Math.max(ttl, 1000),
            exhausted: granted < block,
          })
        })
        .finally(() => refills.delete(key))
      refills.set(key, p)
    }
    return p
  }

  const take = async (key: string, max: number): Promise<Taken> => {
    for (;;) {
      // A new limit (config reload) applies at once: a key's lease taken under the old one is
      // forgotten, and the next refill grants against the new limit what the window has not used
      // yet. Per key: keys counted under different limits (gateway providers) keep their leases.
      const now = Date.now()
      const lease = leases.get(key)
      if (lease && lease.until > now && lease.max === max) {
        if (lease.left > 0) {
          lease.left--
          lease.used++
          return { count: Math.min(lease.used, max), resetMs: lease.until - now }
        }
        if (lease.exhausted) return { count: max + 1, resetMs: lease.until - now }
      }
      try {
        await refill(key, max)
      } catch (e) {
        throw new StoreUnavailableError(`rate limit store: ${(e as Error).message}`, e)
      }
    }
  }
  return { take }
}
