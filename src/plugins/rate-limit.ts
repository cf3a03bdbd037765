// Per-agent rate limit (@fastify/rate-limit), counted in Redis so every replica shares one budget.
// Our own small store so a Redis outage reads as a 503 like every other store failure.
import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { AirlockError, StoreUnavailableError } from '../errors.js'
import { RATE_LIMIT } from '../store/scripts.js'

type Incr = (key: string, cb: (e: Error | null, r?: { current: number; ttl: number }) => void) => void

function redisStoreClass(redis: Redis, nameSpace: string, windowMs: number) {
  redis.defineCommand('alRateLimit', { numberOfKeys: 1, lua: RATE_LIMIT })
  const call = (
    redis as unknown as { alRateLimit: (k: string, w: number) => Promise<[number, number]> }
  ).alRateLimit.bind(redis)
  return class AirlockRateLimitStore {
    incr: Incr = (key, cb) => {
      call(nameSpace + key, windowMs).then(
        ([current, ttl]) => cb(null, { current, ttl }),
        (e: unknown) => cb(new StoreUnavailableError(`rate limit store: ${(e as Error).message}`, e)),
      )
    }
    child() {
      return this
    }
  }
}

export default fp<{ redis: Redis | null; nameSpace: string; perMinute: number }>(
  async (app, opts) => {
    await app.register(rateLimit, {
      global: true,
      hook: 'preHandler', // after authentication, so the key is the agent, not an address
      max: opts.perMinute,
      timeWindow: 60_000,
      ...(opts.redis && { store: redisStoreClass(opts.redis, opts.nameSpace, 60_000) }),
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
