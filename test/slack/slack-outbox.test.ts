// The Slack outbox contract, run against both implementations (Redis and memory): due jobs are
// claimed once per lease, a change arriving while a job is in flight is never lost, backoff holds.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { connectRedis, openRedis, urlConnection } from '../../src/redis/client.js'
import { createSlackOutbox, type SlackOutbox } from '../../src/slack/outbox.js'
import { deletePrefix } from '../helper.js'

const redisUrl = inject('redisUrl')
const prefixes: string[] = []
const conn = urlConnection(redisUrl)
const redis = openRedis(conn)
beforeAll(() => connectRedis(redis))
afterAll(async () => {
  redis.disconnect()
  for (const p of prefixes) await deletePrefix(redisUrl, p)
})
/** A fresh key prefix per test, each cleaned up afterwards. */
const fresh = () => {
  const p = `airlock-test:${randomBytes(6).toString('hex')}:`
  prefixes.push(p)
  return p
}

const T = 1_000_000
const impls: [string, () => SlackOutbox][] = [
  ['redis', () => createSlackOutbox({ kind: 'redis', redis, conn, prefix: fresh() })],
  ['memory', () => createSlackOutbox({ kind: 'memory', clock: { now: () => T } })],
]

describe.each(impls)('slack outbox (%s)', (_name, make) => {
  it('a due job is claimed once per lease, then finished', async () => {
    const o = make()
    await o.enqueue('ses_a', T)
    await o.enqueue('ses_later', T + 5000)
    const [job, ...rest] = await o.claim(T, 30_000, 10)
    expect(rest).toEqual([])
    expect(job).toMatchObject({ session: 'ses_a', attempts: 0, lastError: null })
    expect(await o.claim(T + 1000, 30_000, 10)).toEqual([]) // hidden while leased; ses_later not due
    await o.finish(job!, T + 1000)
    expect(await o.backlog()).toBe(1)
    expect((await o.claim(T + 31_000, 30_000, 10)).map((j) => j.session)).toEqual(['ses_later'])
  })

  it('a change queued while the job is in flight survives its finish and is due at once', async () => {
    const o = make()
    await o.enqueue('ses_b', T)
    const [job] = await o.claim(T, 30_000, 10)
    await o.enqueue('ses_b', T + 10) // keeps the lease as its due time...
    expect(await o.claim(T + 20, 30_000, 10)).toEqual([])
    await o.finish(job!, T + 50) // ...and the finish of the old job makes the new one due
    const [again] = await o.claim(T + 50, 30_000, 10)
    expect(again?.session).toBe('ses_b')
    expect(again?.nonce).not.toBe(job!.nonce)
  })

  it('a failed job waits for its backoff and keeps its attempt count when re-queued', async () => {
    const o = make()
    await o.enqueue('ses_c', T)
    const [job] = await o.claim(T, 30_000, 10)
    await o.retry(job!, { ...job!, attempts: 1, lastError: 'network' }, T + 2000, T)
    expect(await o.claim(T + 1000, 30_000, 10)).toEqual([])
    await o.enqueue('ses_c', T + 1000) // a new change does not jump the backoff
    expect(await o.claim(T + 1500, 30_000, 10)).toEqual([])
    const [retried] = await o.claim(T + 2000, 30_000, 10)
    expect(retried).toMatchObject({ session: 'ses_c', attempts: 1, lastError: 'network' })
  })

  it('keeps message references and refuses a signature seen before', async () => {
    const o = make()
    expect(await o.getMessage('ses_d')).toBeNull()
    await o.setMessage('ses_d', { channel: 'C1', ts: '1.2' }, Date.now() + 60_000)
    expect(await o.getMessage('ses_d')).toEqual({ channel: 'C1', ts: '1.2' })
    expect(await o.firstSeen('v0=abc', 60_000)).toBe(true)
    expect(await o.firstSeen('v0=abc', 60_000)).toBe(false)
    expect(await o.firstSeen('v0=abd', 60_000)).toBe(true)
  })
})
