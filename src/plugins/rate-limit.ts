// Per-agent rate limit (@fastify/rate-limit), counted in Redis so every replica shares one budget
// (src/ratelimit: most requests spend a leased count and need no Redis round trip). A Redis outage
// reads as a 503, like every other store failure.
import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { Backend } from '../backend.js'
import { AirlockError } from '../errors.js'
import { createCounter, type Counter } from '../ratelimit/index.js'

type Incr = (key: string, cb: (e: Error | null, r?: { current: number; ttl: number }) => void) => void

/** @fastify/rate-limit's store over Airlock's counter (src/ratelimit), under the limit of the moment. */
function counterStore(counter: Counter, limit: () => number) {
  return class AirlockRateLimitStore {
    incr: Incr = (key, cb) => {
      counter.take(key, limit()).then(
        (t) => cb(null, { current: t.count, ttl: t.resetMs }),
        (e: unknown) => cb(e as Error),
      )
    }
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
        store: counterStore(createCounter(backend, 'rateLimit', 60_000), opts.perMinute),
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
