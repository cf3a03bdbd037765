// The Redis queue, shared by every replica: a sorted set (job id -> due time) and a hash (job id ->
// job JSON) under the queue's keys (src/store/keys.ts). Lua makes each step atomic (defined like
// every script, src/redis/script.ts); both keys share the hash tag, so the scripts run on Redis
// Cluster too. A failure is a StoreUnavailableError.
import { guard, type RedisClient } from '../redis/client.js'
import { defineScript } from '../redis/script.js'
import { redisKeys, type QueueName } from '../store/keys.js'
import type { Queue } from './types.js'

/** KEYS: due, jobs. ARGV: id, json, due, keep later '1'|'0'. */
const PUT = `
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], 'GT', ARGV[3], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
`

/** KEYS: due, jobs. ARGV: now, lease ms, limit. Hides due jobs for the lease and returns them. */
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[2], id)
  local job = redis.call('HGET', KEYS[2], id)
  if job then table.insert(out, job) else redis.call('ZREM', KEYS[1], id) end
end
return out
`

/**
 * KEYS: due, jobs. ARGV: id, json claimed, now. Removes the job unless it was replaced while
 * claimed; a replacement is made due now (its score was still the claim's lease).
 */
const FINISH = `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then
  if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
  return 0
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`

/** KEYS: due, jobs. ARGV: id, json claimed, next json, due, now. Like FINISH, but reschedules. */
const RETRY = `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then
  if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1]) end
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
return 1
`

export function redisQueue<T>(
  redis: RedisClient,
  prefix: string,
  name: QueueName,
  idOf: (job: T) => string,
): Queue<T> {
  const { due, jobs } = redisKeys(prefix).queue(name)
  const script = <R = unknown>(cmd: string, lua: string) => {
    const run = defineScript<R>(redis, cmd, lua, 2)
    return (...args: (string | number)[]) => run(due, jobs, ...args)
  }
  const run = {
    put: script('alQueuePut', PUT),
    claim: script<string[]>('alQueueClaim', CLAIM),
    finish: script('alQueueFinish', FINISH),
    retry: script('alQueueRetry', RETRY),
  }
  const what = `${name} queue`
  return {
    put: (job, dueAt, opts = {}) =>
      guard(what, async () => {
        await run.put(idOf(job), JSON.stringify(job), dueAt, opts.keepLater ? '1' : '0')
      }),
    get: (id) =>
      guard(what, async () => {
        const raw = await redis.hget(jobs, id)
        return raw === null ? null : (JSON.parse(raw) as T)
      }),
    claim: (now, leaseMs, limit) =>
      guard(what, async () => {
        const raw = await run.claim(now, leaseMs, limit)
        return raw.map((j) => JSON.parse(j) as T)
      }),
    finish: (claimed, now) =>
      guard(what, async () => {
        await run.finish(idOf(claimed), JSON.stringify(claimed), now)
      }),
    retry: (claimed, next, dueAt, now) =>
      guard(what, async () => {
        const args = [JSON.stringify(claimed), JSON.stringify(next), dueAt, now]
        await run.retry(idOf(claimed), ...args)
      }),
    size: () => guard(what, () => redis.zcard(due)),
  }
}
