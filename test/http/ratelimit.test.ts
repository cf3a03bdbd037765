import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { client, sessionBody, testBroker, testConfigYaml, type TestBroker } from '../helper.js'

let t: TestBroker
let api: ReturnType<typeof client>
beforeAll(async () => {
  t = await testBroker({ yaml: { perMinute: 3 } })
  api = client(t.app, t.keys)
})
afterAll(async () => t.close())

describe('per-agent rate limit (in Redis)', () => {
  it('the fourth request in a minute is 429 rate_limited with Retry-After; other agents and people are unaffected', async () => {
    for (let i = 0; i < 3; i++)
      expect((await api.post('/v1/sessions', 'build-bot', sessionBody())).status).toBe(201)
    const r = await api.post('/v1/sessions', 'build-bot', sessionBody())
    expect(r.status).toBe(429)
    expect(r.body.error).toBe('rate_limited')
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0)
    expect((await api.post('/v1/sessions', 'other-bot', sessionBody())).status).toBe(201)
    for (let i = 0; i < 5; i++) expect((await api.get('/v1/locks', 'ops')).status).toBe(200)
  })

  it('the budget is shared by replicas on the same Redis', async () => {
    const replica = await testBroker({ yaml: { perMinute: 3 }, prefix: t.prefix, keys: t.keys })
    try {
      const r = await client(replica.app, replica.keys).post('/v1/sessions', 'build-bot', sessionBody())
      expect(r.status).toBe(429)
    } finally {
      await replica.broker.close()
    }
  })
})

describe('rate_limits on a config reload', () => {
  const reloadWith = (perMinute: number) =>
    t.broker.reload(
      parseConfig(testConfigYaml(t.prefix, t.keys, { perMinute }), {
        baseDir: '.',
        env: { REDIS_URL: t.redisUrl },
      }),
    )

  it('a raised limit admits at once within the same minute; a lowered one refuses at once', async () => {
    expect((await api.post('/v1/sessions', 'build-bot', sessionBody())).status).toBe(429)
    await reloadWith(10)
    expect((await api.post('/v1/sessions', 'build-bot', sessionBody())).status).toBe(201)
    await reloadWith(1)
    const r = await api.post('/v1/sessions', 'build-bot', sessionBody())
    expect(r.status).toBe(429)
    expect(r.body.message).toMatch(/at most 1 a minute/)
  })
})

describe('leased tokens (larger limits)', () => {
  it('two replicas never admit more than the shared budget, and waste at most a lease each', async () => {
    const { leaseSize } = await import('../../src/ratelimit/redis.js')
    expect([3, 20, 40, 120, 1_000_000].map(leaseSize)).toEqual([1, 1, 2, 6, 50_000])
    const a = await testBroker({ yaml: { perMinute: 40 } })
    const b = await testBroker({ yaml: { perMinute: 40 }, prefix: a.prefix, keys: a.keys })
    try {
      const apis = [client(a.app, a.keys), client(b.app, b.keys)]
      let admitted = 0
      let limited = 0
      for (let i = 0; i < 60; i++) {
        const r = await (apis[i % 2] as ReturnType<typeof client>).post(
          '/v1/sessions',
          'build-bot',
          sessionBody(),
        )
        if (r.status === 201) admitted++
        else if (r.status === 429) limited++
      }
      expect(admitted + limited).toBe(60)
      expect(admitted).toBeLessThanOrEqual(40)
      expect(admitted).toBeGreaterThanOrEqual(40 - 2 * (leaseSize(40) - 1))
    } finally {
      await b.broker.close()
      await a.close()
    }
  })
})

describe('a burst against leased tokens', () => {
  it('250 concurrent requests on a 200/minute budget: exactly 200 admitted, no spurious 429 before that', async () => {
    const t2 = await testBroker({ yaml: { perMinute: 200 } })
    try {
      const api2 = client(t2.app, t2.keys)
      const statuses = await Promise.all(
        Array.from({ length: 250 }, () =>
          api2.post('/v1/sessions', 'build-bot', sessionBody()).then((r) => r.status),
        ),
      )
      expect(statuses.filter((s) => s === 201)).toHaveLength(200)
      expect(statuses.filter((s) => s === 429)).toHaveLength(50)
    } finally {
      await t2.close()
    }
  })
})
