// Durable state of the Slack side: a queue of sessions whose message must be brought up to date
// (posted, or updated), the message each session has, and the signatures already accepted. The
// queue is one of the job queues (src/queue: in Redis it survives restarts and is shared by
// replicas, a claimed job is hidden for a lease); the rest are keys with a lifetime. Memory serves
// `airlock dev`.
import { randomBytes } from 'node:crypto'
import type { Backend } from '../backend.js'
import { createQueue } from '../queue/index.js'
import { guard, type RedisClient } from '../redis/client.js'
import { redisKeys } from '../store/keys.js'

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
const newJob = (session: string, old: SlackJob | null): SlackJob => ({
  session,
  nonce: randomBytes(6).toString('hex'),
  attempts: old?.attempts ?? 0,
  lastError: old?.lastError ?? null,
})

export function createSlackOutbox(backend: Backend): SlackOutbox {
  const queue = createQueue<SlackJob>(backend, 'slack', (j) => j.session)
  return {
    async enqueue(id, dueAt) {
      // Not atomic with a worker's retry(): at worst the attempt count is one behind.
      await queue.put(newJob(id, await queue.get(id)), dueAt, { keepLater: true })
    },
    claim: (now, leaseMs, limit) => queue.claim(now, leaseMs, limit),
    finish: (job, now) => queue.finish(job, now),
    retry: (job, next, dueAt, now) => queue.retry(job, next, dueAt, now),
    backlog: () => queue.size(),
    ...(backend.kind === 'redis' ? redisMarks(backend.redis, backend.prefix) : memoryMarks(backend.clock)),
  }
}

type Marks = Pick<SlackOutbox, 'getMessage' | 'setMessage' | 'firstSeen'>

function redisMarks(redis: RedisClient, prefix: string): Marks {
  const k = redisKeys(prefix)
  return {
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

function memoryMarks(clock: { now(): number }): Marks {
  const messages = new Map<string, { ref: MessageRef; until: number }>()
  const seen = new Map<string, number>()
  return {
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
