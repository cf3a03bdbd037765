// Failed provider revocations waiting for their retry: a sorted set of due times and a hash of
// jobs. Kept apart from the rest of the store: this queue is due to be replaced as a whole.
import * as lua from '../scripts.js'
import type { RevocationJob, RevocationStore } from '../types.js'
import { guard, type RedisContext } from './context.js'

export function redisRevocations(ctx: RedisContext): RevocationStore {
  const { redis, k } = ctx
  const claimScript = ctx.script('alClaimRevocations', lua.CLAIM_REVOCATIONS)
  const finishIfSame = ctx.script('alFinishIfSame', lua.FINISH_IF_SAME)
  const retryIfSame = ctx.script('alRetryIfSame', lua.RETRY_IF_SAME)

  return {
    enqueueRevocation: (job, dueAt) =>
      guard('queue', async () => {
        await redis
          .multi()
          .hset(k.revocationJobs, job.id, JSON.stringify(job))
          .zadd(k.revocationQueue, dueAt, job.id)
          .exec()
      }),
    claimRevocations: (now, leaseMs, limit) =>
      guard('queue', async () => {
        const raw = (await claimScript(
          2,
          k.revocationQueue,
          k.revocationJobs,
          now,
          leaseMs,
          limit,
        )) as string[]
        return raw.map((j) => JSON.parse(j) as RevocationJob)
      }),
    finishRevocation: (claimed, now) =>
      guard('queue', async () => {
        const keys = [k.revocationQueue, k.revocationJobs]
        await finishIfSame(2, ...keys, claimed.id, JSON.stringify(claimed), now)
      }),
    retryRevocation: (claimed, next, dueAt, now) =>
      guard('queue', async () => {
        const keys = [k.revocationQueue, k.revocationJobs]
        await retryIfSame(2, ...keys, claimed.id, JSON.stringify(claimed), JSON.stringify(next), dueAt, now)
      }),
    revocationBacklog: () => guard('queue', () => redis.zcard(k.revocationQueue)),
  }
}
