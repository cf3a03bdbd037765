// Redis stopped mid-run (a private redis-server): 503s, never `active: true`, no crash, and
// recovery without a restart once Redis is back.
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { client, testBroker, type TestBroker } from '../helper.js'
import { redisServer, type RedisServer } from '../support/redis-server.js'

let redis: RedisServer
let t: TestBroker
let api: ReturnType<typeof client>
beforeAll(async () => {
  redis = await redisServer()
  t = await testBroker({ redisUrl: redis.url })
  api = client(t.app, t.keys)
})
afterAll(async () => {
  await t.broker.close()
  await redis.stop()
})

describe('fail closed', () => {
  it('answers 503 while Redis is down and recovers by itself', async () => {
    const before = await api.issue('build-bot')
    expect(
      (await api.post('/v1/introspect', 'internal-api', { token: before.grant.token })).body.active,
    ).toBe(true)

    await redis.stop()

    const issue = await api.post('/v1/sessions', 'build-bot', {
      environment: 'staging',
      operation_class: 'read',
      provider: 'internal-api',
      task: { id: 'DOWN-1' },
    })
    expect(issue.status).toBe(503)
    expect(issue.body.error).toBe('unavailable')
    expect(issue.body.grant).toBeUndefined()

    const introspect = await api.post('/v1/introspect', 'internal-api', { token: before.grant.token })
    expect(introspect.status).toBe(503)
    expect(introspect.body.active).toBeUndefined()

    const started = performance.now()
    const ready = await api.get('/readyz', null)
    expect(ready.status).toBe(503)
    expect(ready.body.error).toBe('unavailable')
    expect(performance.now() - started).toBeLessThan(2000)

    // Many requests while down stay bounded (no offline queue): each fails fast.
    const burst = await Promise.all(
      Array.from({ length: 50 }, () => api.get(`/v1/sessions/${before.session.id}`, 'ops')),
    )
    expect(new Set(burst.map((r) => r.status))).toEqual(new Set([503]))
    expect((await api.get('/healthz', null)).status).toBe(200)

    await redis.start()
    await vi.waitFor(async () => expect((await api.get('/readyz', null)).status).toBe(200), {
      timeout: 10_000,
      interval: 100,
    })
    // The restarted Redis kept nothing (no persistence): the old token is unknown, so inactive.
    expect((await api.post('/v1/introspect', 'internal-api', { token: before.grant.token })).body).toEqual({
      active: false,
    })
    const after = await api.post('/v1/sessions', 'build-bot', {
      environment: 'staging',
      operation_class: 'read',
      provider: 'internal-api',
      task: { id: 'UP-1' },
    })
    expect(after.status, JSON.stringify(after.body) + t.logs.lines.slice(-5).join('\n')).toBe(201)
    expect(
      (await api.post('/v1/introspect', 'internal-api', { token: after.body.grant.token })).body.active,
    ).toBe(true)
  })
})

describe('readiness', () => {
  it('is 503 while Redis answers but refuses writes, and ready again once it takes them', async () => {
    expect((await api.get('/readyz', null)).status).toBe(200)
    // A primary that cannot reach its replicas refuses every write (NOREPLICAS), yet still answers
    // reads and names itself master: a broker there cannot issue, so it must not be sent traffic.
    const admin = new Redis(redis.url)
    try {
      await admin.config('SET', 'min-replicas-to-write', '1')
      const ready = await api.get('/readyz', null)
      expect(ready.status).toBe(503)
      expect(ready.body.error).toBe('unavailable')
      await admin.config('SET', 'min-replicas-to-write', '0')
      expect((await api.get('/readyz', null)).status).toBe(200)
    } finally {
      await admin.config('SET', 'min-replicas-to-write', '0')
      admin.disconnect()
    }
  })
})

describe('start-up checks', () => {
  it('refuses a Redis that may evict keys', async () => {
    const evicting = await redisServer(['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lru'])
    try {
      await expect(testBroker({ redisUrl: evicting.url })).rejects.toThrow(
        /maxmemory-policy is 'allkeys-lru'/,
      )
    } finally {
      await evicting.stop()
    }
  })

  it('warns when Redis persists nothing', async () => {
    expect(t.logs.lines.some((l) => l.includes('Redis persists nothing'))).toBe(true)
  })

  it('refuses an unreachable Redis with a clear error', async () => {
    await expect(testBroker({ redisUrl: 'redis://127.0.0.1:1' })).rejects.toThrow(/cannot connect to Redis/)
  })
})
