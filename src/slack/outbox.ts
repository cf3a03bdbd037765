// Durable state of the Slack side: a queue of sessions whose message must be brought up to date
// (posted, or updated), the message each session has, and the signatures already accepted. In Redis
// the queue survives restarts and is shared by replicas (a claimed job is hidden for a lease, like the
// revocation queue); the memory version serves `airlock dev`.
import { guard, type RedisClient } from '../redis/client.js'
import { redisKeys } from '../store/keys.js'
import { CLAIM_REVOCATIONS, FINISH_IF_SAME, RETRY_IF_SAME } from '../store/scripts.js'
import { randomBytes } from 'node:crypto'

/** "Make the Slack message of this session match its current state." */
export interface SlackJob {
  session: string
  /** Changes on every enqueue, so a job re-queued while in flight is not lost when the old one ends. */
  nonce: string
  attempts: number
  lastError: string | null
}

export interface MessageRef {
  channel: string
  ts: string
}

export interface SlackOutbox {
  /**
   * Queues a sync of the session's message. A job already waiting keeps its later due time: that is
   * either a claim's lease (the worker re-runs it when done) or a backoff while Slack fails.
   */
  enqueue(sessionId: string, dueAt: number): Promise<void>
  /** Takes due jobs and hides them for `leaseMs` (a crashed worker's jobs come back). */
  claim(now: number, leaseMs: number, limit: number): Promise<SlackJob[]>
  /** Drops the job unless it was re-queued since it was claimed (then it is due at `now`). */
  finish(job: SlackJob, now: number): Promise<void>
  /** Schedules the next attempt unless the job was re-queued since it was claimed. */
  retry(job: SlackJob, next: SlackJob, dueAt: number, now: number): Promise<void>
  backlog(): Promise<number>
  getMessage(sessionId: string): Promise<MessageRef | null>
  setMessage(sessionId: string, ref: MessageRef, expiresAt: number): Promise<void>
  /** True the first time a signature is seen within `ttlMs`. */
  firstSeen(signature: string, ttlMs: number): Promise<boolean>
}

/** A fresh nonce; a job already failing keeps its attempt count (for backoff and metrics). */
const newJob = (session: string, prev: string | null | undefined): SlackJob => {
  const old = prev ? (JSON.parse(prev) as SlackJob) : null
  return {
    session,
    nonce: randomBytes(6).toString('hex'),
    attempts: old?.attempts ?? 0,
    lastError: old?.lastError ?? null,
  }
}

export function createRedisOutbox(redis: RedisClient, prefix: string): SlackOutbox {
  const k = redisKeys(prefix)
  const queue = [k.slackQueue, k.slackJobs]
  const run = (lua: string, ...args: (string | number)[]) => redis.eval(lua, 2, ...queue, ...args)
  return {
    enqueue: (id, dueAt) =>
      guard('slack queue', async () => {
        // Not atomic with a worker's retry(): at worst the attempt count is one behind.
        const prev = await redis.hget(k.slackJobs, id)
        await redis
          .multi()
          .hset(k.slackJobs, id, JSON.stringify(newJob(id, prev)))
          .zadd(k.slackQueue, 'GT', dueAt, id)
          .exec()
      }),
    claim: (now, leaseMs, limit) =>
      guard('slack queue', async () => {
        const raw = (await run(CLAIM_REVOCATIONS, now, leaseMs, limit)) as string[]
        return raw.map((j) => JSON.parse(j) as SlackJob)
      }),
    finish: (job, now) =>
      guard(
        'slack queue',
        async () => void (await run(FINISH_IF_SAME, job.session, JSON.stringify(job), now)),
      ),
    retry: (job, next, dueAt, now) =>
      guard('slack queue', async () => {
        await run(RETRY_IF_SAME, job.session, JSON.stringify(job), JSON.stringify(next), dueAt, now)
      }),
    backlog: () => guard('slack queue', () => redis.zcard(k.slackQueue)),
    getMessage: (id) =>
      guard('read', async () => {
        const raw = await redis.get(k.slackMessage(id))
        return raw ? (JSON.parse(raw) as MessageRef) : null
      }),
    setMessage: (id, ref, expiresAt) =>
      guard(
        'write',
        async () => void (await redis.set(k.slackMessage(id), JSON.stringify(ref), 'PXAT', expiresAt)),
      ),
    firstSeen: (signature, ttlMs) =>
      guard('write', async () => (await redis.set(k.slackSeen(signature), '1', 'PX', ttlMs, 'NX')) === 'OK'),
  }
}

export function createMemoryOutbox(clock: { now(): number }): SlackOutbox {
  const jobs = new Map<string, { json: string; due: number }>()
  const messages = new Map<string, { ref: MessageRef; until: number }>()
  const seen = new Map<string, number>()
  const same = (job: SlackJob) => jobs.get(job.session)?.json === JSON.stringify(job)
  return {
    async enqueue(id, dueAt) {
      const prev = jobs.get(id)
      jobs.set(id, { json: JSON.stringify(newJob(id, prev?.json)), due: Math.max(prev?.due ?? dueAt, dueAt) })
    },
    async claim(now, leaseMs, limit) {
      const due = [...jobs.values()].filter((j) => j.due <= now).slice(0, limit)
      for (const j of due) j.due = now + leaseMs
      return due.map((j) => JSON.parse(j.json) as SlackJob)
    },
    async finish(job, now) {
      const cur = jobs.get(job.session)
      if (same(job)) jobs.delete(job.session)
      else if (cur) cur.due = now
    },
    async retry(job, next, dueAt, now) {
      const cur = jobs.get(job.session)
      if (same(job)) jobs.set(job.session, { json: JSON.stringify(next), due: dueAt })
      else if (cur) cur.due = now
    },
    async backlog() {
      return jobs.size
    },
    async getMessage(id) {
      const m = messages.get(id)
      return m && m.until > clock.now() ? m.ref : null
    },
    async setMessage(id, ref, expiresAt) {
      messages.set(id, { ref, until: expiresAt })
    },
    async firstSeen(signature, ttlMs) {
      const now = clock.now()
      for (const [s, until] of seen) if (until <= now) seen.delete(s)
      if (seen.has(signature)) return false
      seen.set(signature, now + ttlMs)
      return true
    },
  }
}
