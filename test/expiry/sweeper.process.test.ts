// A real `airlock serve` after an outage longer than store.retention: the records of the sessions
// that were live are gone while their index entries remain. The sweeper must drop those entries,
// keep expiring new sessions on time, and stop promptly on SIGTERM.
import { Redis } from 'ioredis'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { redisKeys } from '../../src/store/keys.js'
import { deletePrefix, newKeys, sessionBody, testConfigYaml } from '../helper.js'
import { freePort, startBrokerProcess, tempDir, writeSigningKey } from '../support/broker-process.js'

const redisUrl = inject('redisUrl')
const prefix = `airlock-test:${Date.now().toString(36)}sw:`
const keys = newKeys()
const dir = tempDir()
const env = { REDIS_URL: redisUrl, AIRLOCK_LOG_LEVEL: 'info' }
const k = redisKeys(prefix)
const redis = new Redis(redisUrl)

const config = async () => {
  const path = join(dir, 'airlock.yaml')
  const signing = writeSigningKey(dir)
  writeFileSync(path, testConfigYaml(prefix, keys, { port: await freePort(), signingKeyPath: signing.path }))
  return path
}

const issue = async (url: string, over: Record<string, unknown> = {}) => {
  const r = await fetch(`${url}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys['build-bot']}`, 'content-type': 'application/json' },
    body: JSON.stringify(sessionBody(over)),
  })
  expect(r.status).toBe(201)
  return ((await r.json()) as { session: { id: string } }).session.id
}

afterAll(async () => {
  redis.disconnect()
  await deletePrefix(redisUrl, prefix)
})

describe('the sweeper after an outage longer than store.retention', () => {
  it('drops the index entries of 220 vanished sessions, expires a fresh one on time, and stops on SIGTERM', async () => {
    const path = await config()
    const before = await startBrokerProcess(path, env)
    const ids: string[] = []
    try {
      for (let i = 0; i < 220; i++) ids.push(await issue(before.url, { ttl_seconds: 600 }))
    } finally {
      expect(await before.stop()).toBe(0)
    }
    // Two hours pass with every broker down: deadlines long gone, records past the 1 h retention.
    const longAgo = Date.now() - 2 * 3_600_000
    const outage = redis.multi()
    for (const id of ids) outage.zadd(k.deadlines, 'XX', longAgo, id).del(k.session(id))
    await outage.exec()
    expect(await redis.zcount(k.deadlines, '-inf', longAgo)).toBe(220)

    const after = await startBrokerProcess(path, env)
    let exit: number | null = null
    try {
      const fresh = await issue(after.url, { ttl_seconds: 2 })
      await after.waitForLine(new RegExp(`^(?=.*"type":"session.expired")(?=.*"session_id":"${fresh}")`))
      await after.waitForLine(/removed the index entries of sessions whose records outlived store.retention/)
      for (const index of [k.deadlines, k.created, k.pending]) {
        const scores = await Promise.all(ids.map((id) => redis.zscore(index, id)))
        expect(scores.filter((s) => s !== null)).toEqual([])
      }
    } finally {
      exit = await after.stop()
    }
    // Not the forced exit a sweeper stuck in a loop ends with.
    expect(exit).toBe(0)
  }, 60_000)
})
