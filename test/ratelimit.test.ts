import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, sessionBody, testBroker, type TestBroker } from './helper.js'

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
