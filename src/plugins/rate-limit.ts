// Per-agent rate limit (@fastify/rate-limit), counted in Redis so every replica shares one budget.
// A replica leases tokens from the shared counter a block at a time (INCRBY) and spends them
// locally, so most requests need no Redis round trip. Leased tokens count against the budget: the
// limit is never exceeded; at worst a replica's unspent lease goes unused until the window ends.
// A Redis outage reads as a 503, like every other store failure.
import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { Backend } from '../backend.js'
import { AirlockError, StoreUnavailableError } from '../errors.js'
import type { RedisClient } from '../redis/client.js'
import { defineScript } from '../redis/script.js'
import { redisKeys } from '../store/keys.js'
import { RATE_LIMIT } from '../store/scripts.js'

type Incr = (key: string, cb: (e: Error | null, r?: { current: number; ttl: number }) => void) => void

/** Tokens leased per Redis call: 1 for small limits (exact), up to 5% of the limit for large ones. */
export const leaseSize = (max: number): number => Math.max(1, Math.floor(max / 20))

function redisStoreClass(redis: RedisClient, nameSpace: string, windowMs: number, limit: () => number) {
  const call = defineScript<[number, number]>(redis, 'alRateLimit', RATE_LIMIT, 1)
  /** The limit the leases were taken under: a reload that changes it drops them (below). */
  let leasedUnder = 0
  /** `exhausted`: the last refill got less than a block, so the window's shared budget is spent. */
  const leases = new Map<string, { left: number; used: number; until: number; exhausted: boolean }>()
  // One refill per key at a time: requests arriving while it travels wait for it, so a burst
  // takes one block, not one block each.
  const refills = new Map<string, Promise<void>>()

  const refill = (key: string, max: number): Promise<void> => {
    let p = refills.get(key)
    if (!p) {
      const block = leaseSize(max)
      p = call(nameSpace + key, windowMs, block)
        .then(([total, ttl]) => {
          const granted = Math.max(0, Math.min(block, max - (total - block)))
          if (leases.size > 10_000) leases.clear()
          leases.set(key, {
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

  const take = (key: string, cb: Parameters<Incr>[1], max: number): void => {
    // A new limit (config reload) applies at once: leases taken under the old one are forgotten,
    // and the next refill grants against the new limit what the window has not used yet.
    if (max !== leasedUnder) {
      leases.clear()
      leasedUnder = max
    }
    const now = Date.now()
    const lease = leases.get(key)
    if (lease && lease.until > now) {
      if (lease.left > 0) {
        lease.left--
        lease.used++
        return cb(null, { current: Math.min(lease.used, max), ttl: lease.until - now })
      }
      if (lease.exhausted) return cb(null, { current: max + 1, ttl: lease.until - now })
    }
    refill(key, max).then(
      () => take(key, cb, max),
      (e: unknown) => cb(new StoreUnavailableError(`rate limit store: ${(e as Error).message}`, e)),
    )
  }

  return class AirlockRateLimitStore {
    incr: Incr = (key, cb) => take(key, cb, limit())
    child() {
      return this
    }
  }
}

/** With the memory backend the count is this process's own (@fastify/rate-limit's default store). */
export default fp<{ backend: Backend; perMinute: () => number }>(
  async (app, opts) => {
    const { backend } = opts
    await app.register(rateLimit, {
      global: true,
      hook: 'preHandler', // after authentication, so the key is the agent, not an address
      // Read per request, so a config reload changes the limit without a restart.
      max: () => opts.perMinute(),
      timeWindow: 60_000,
      ...(backend.kind === 'redis' && {
        store: redisStoreClass(backend.redis, redisKeys(backend.prefix).rateLimit, 60_000, opts.perMinute),
      }),
      skipOnError: false,
      allowList: (req) => req.principal?.kind !== 'agent',
      keyGenerator: (req) => `agent:${req.principal?.id ?? req.ip}`,
      errorResponseBuilder: (_req, ctx) =>
        new AirlockError(
          'rate_limited',
          `too many requests: at most ${ctx.max} a minute; retry in ${ctx.after}`,
          {
            retryAfter: Math.max(1, Math.ceil(ctx.ttl / 1000)),
          },
        ),
    })
  },
  { name: 'rate-limit', dependencies: ['auth'] },
)
