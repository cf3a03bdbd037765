// One suite for the job queue (src/queue): each assertion must hold for memory and for Redis alike,
// and for Redis on each topology (test/queue.test.ts, test/ha.cluster.test.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Queue } from '../../src/queue/index.js'
import type { RevocationJob } from '../../src/sessions/revoker.js'
import type { QueueFixture, QueueKind } from './queue-kinds.js'
import { newId } from './records.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const NOW = 1_700_000_000_000

function makeJob(id: string, now: number): RevocationJob {
  return {
    id,
    provider: 'internal-api',
    sessionId: newId('ses'),
    environment: 'staging',
    operationClass: 'read',
    handle: { key_id: id },
    expiresAt: now + HOUR,
    attempts: 1,
    lastError: 'provider timed out',
  }
}

/** A job of the other queue: named by its session, like the Slack outbox's. */
interface Sync {
  session: string
  n: number
}

const byId = <T extends { id: string }>(xs: T[]): T[] => [...xs].sort((a, b) => (a.id < b.id ? -1 : 1))

export function queueSuite(kind: QueueKind) {
  let fx: QueueFixture
  let queue: Queue<RevocationJob>
  let syncs: Queue<Sync>
  const lease = 60_000

  beforeEach(async () => {
    fx = await kind.open()
    queue = fx.queue<RevocationJob>('revocations', (j) => j.id)
    syncs = fx.queue<Sync>('slack', (j) => j.session)
  })
  afterEach(async () => {
    await fx.close()
  })

  describe('claims', () => {
    it('claims due jobs, hides them for the lease, and forgets finished ones', async () => {
      const now = NOW
      const j1 = makeJob('rj_1', now)
      const j2 = makeJob('rj_2', now)
      const j3 = makeJob('rj_3', now)
      await queue.put(j1, now - 2000)
      await queue.put(j2, now - 1000)
      await queue.put(j3, now + HOUR)
      expect(await queue.size()).toBe(3)

      expect(byId(await queue.claim(now, lease, 10))).toEqual([j1, j2])
      expect(await queue.claim(now, lease, 10)).toEqual([])
      expect(await queue.claim(now + lease - 1, lease, 10)).toEqual([])
      expect(await queue.size()).toBe(3)

      // The lease ran out (a crashed worker): the jobs come back.
      expect(byId(await queue.claim(now + lease, lease, 10))).toEqual([j1, j2])
      await queue.finish(j1, now + lease)
      await queue.finish(makeJob('rj_unknown', now), now + lease)
      expect(await queue.size()).toBe(2)
      expect(await queue.claim(now + 2 * lease, lease, 10)).toEqual([j2])

      // limit
      const later = now + 2 * HOUR
      const first = await queue.claim(later, lease, 1)
      const second = await queue.claim(later, lease, 1)
      expect(first).toHaveLength(1)
      expect(second).toHaveLength(1)
      expect(byId([...first, ...second])).toEqual([j2, j3])
      expect(await queue.claim(later, lease, 10)).toEqual([])

      await queue.finish(j2, later)
      await queue.finish(j3, later)
      expect(await queue.size()).toBe(0)
      expect(await queue.claim(later + DAY, lease, 10)).toEqual([])
    })

    it('claims the earliest due first', async () => {
      const jobs = [3, 1, 2].map((n) => makeJob(`rj_order_${n}`, NOW))
      for (const [i, j] of jobs.entries()) await queue.put(j, NOW - 1000 * [3, 1, 2][i]!)
      expect((await queue.claim(NOW, lease, 2)).map((j) => j.id)).toEqual(['rj_order_3', 'rj_order_2'])
      expect((await queue.claim(NOW, lease, 2)).map((j) => j.id)).toEqual(['rj_order_1'])
    })

    it('a replica never claims what another holds; a crashed worker’s jobs come back to any replica', async () => {
      const other = (await fx.peer())<RevocationJob>('revocations', (j) => j.id)
      const jobs = [makeJob('rj_a', NOW), makeJob('rj_b', NOW), makeJob('rj_c', NOW)]
      for (const j of jobs) await queue.put(j, NOW)
      const mine = await queue.claim(NOW, lease, 2)
      const theirs = await other.claim(NOW, lease, 10)
      expect(byId([...mine, ...theirs])).toEqual(jobs)
      expect(await other.claim(NOW + lease - 1, lease, 10)).toEqual([])
      // This worker died holding `mine`: the other replica takes them once the lease lapsed.
      expect(byId(await other.claim(NOW + lease, lease, 10))).toEqual(byId([...mine, ...theirs]))
      for (const j of jobs) await other.finish(j, NOW + lease)
      expect(await queue.size()).toBe(0)
    })
  })

  describe('jobs replaced while claimed', () => {
    it('finishing or retrying a claim keeps a replacement queued meanwhile, due at once', async () => {
      const now = NOW
      const job = makeJob('rj_same', now)
      await queue.put(job, now - 1)
      expect(await queue.claim(now, lease, 10)).toEqual([job])
      // The same session is queued again while the claim runs (now with a handle).
      const replacement = { ...job, handle: { key_id: 'the-real-handle' } }
      await queue.put(replacement, now + HOUR)
      await queue.finish(job, now)
      expect(await queue.size()).toBe(1)
      expect(await queue.claim(now, lease, 10)).toEqual([replacement])

      await queue.put({ ...replacement, attempts: 7 }, now + HOUR)
      await queue.retry(replacement, { ...replacement, attempts: 2 }, now + DAY, now + 1)
      expect(await queue.claim(now + 1, lease, 10)).toEqual([{ ...replacement, attempts: 7 }])

      // Not replaced: a retry reschedules it, a finish removes it.
      const seven = { ...replacement, attempts: 7 }
      await queue.retry(seven, { ...seven, attempts: 8 }, now + 10, now + 2)
      expect(await queue.claim(now + 10, lease, 10)).toEqual([{ ...seven, attempts: 8 }])
      await queue.finish({ ...seven, attempts: 8 }, now + 10)
      expect(await queue.size()).toBe(0)
    })

    it('a retry of a job finished elsewhere queues nothing', async () => {
      const job = makeJob('rj_gone', NOW)
      await queue.put(job, NOW)
      expect(await queue.claim(NOW, lease, 10)).toEqual([job])
      await queue.finish(job, NOW)
      await queue.retry(job, { ...job, attempts: 2 }, NOW + 10, NOW)
      expect(await queue.size()).toBe(0)
      expect(await queue.get(job.id)).toBeNull()
    })
  })

  describe('put and get', () => {
    it('get answers the job queued under an id, claimed or not, until it is finished', async () => {
      expect(await syncs.get('ses_1')).toBeNull()
      await syncs.put({ session: 'ses_1', n: 1 }, NOW + HOUR)
      expect(await syncs.get('ses_1')).toEqual({ session: 'ses_1', n: 1 })
      await syncs.put({ session: 'ses_1', n: 2 }, NOW)
      const [claimed] = await syncs.claim(NOW, lease, 10)
      expect(claimed).toEqual({ session: 'ses_1', n: 2 })
      expect(await syncs.get('ses_1')).toEqual({ session: 'ses_1', n: 2 })
      await syncs.finish(claimed!, NOW)
      expect(await syncs.get('ses_1')).toBeNull()
    })

    it('a plain put moves the due time either way; keepLater keeps a later one', async () => {
      await syncs.put({ session: 'ses_p', n: 1 }, NOW + 5000)
      await syncs.put({ session: 'ses_p', n: 2 }, NOW)
      expect(await syncs.claim(NOW, lease, 10)).toEqual([{ session: 'ses_p', n: 2 }])

      // Claimed: its due time is the lease; a change queued with keepLater waits for it...
      await syncs.put({ session: 'ses_p', n: 3 }, NOW + 10, { keepLater: true })
      expect(await syncs.claim(NOW + 20, lease, 10)).toEqual([])
      // ...and a later due time still wins over the current one.
      await syncs.put({ session: 'ses_p', n: 4 }, NOW + 2 * lease, { keepLater: true })
      expect(await syncs.claim(NOW + lease, lease, 10)).toEqual([])
      expect(await syncs.claim(NOW + 2 * lease, lease, 10)).toEqual([{ session: 'ses_p', n: 4 }])

      // keepLater on a new job: due when asked.
      await syncs.put({ session: 'ses_new', n: 1 }, NOW, { keepLater: true })
      expect(await syncs.claim(NOW, lease, 10)).toEqual([{ session: 'ses_new', n: 1 }])
    })

    it('queues are separate, and hold copies of the jobs', async () => {
      await syncs.put({ session: 'rj_x', n: 1 }, NOW)
      expect(await queue.size()).toBe(0)
      expect(await queue.claim(NOW, lease, 10)).toEqual([])
      expect(await queue.get('rj_x')).toBeNull()

      const job = makeJob('rj_copy', NOW)
      await queue.put(job, NOW)
      job.attempts = 99
      const [claimed] = await queue.claim(NOW, lease, 10)
      expect(claimed?.attempts).toBe(1)
      claimed!.lastError = 'changed by the worker'
      expect((await queue.get('rj_copy'))?.lastError).toBe('provider timed out')
    })
  })
}
