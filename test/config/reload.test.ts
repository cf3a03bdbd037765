// A config reload in process (broker.reload, what SIGHUP calls): once the new config is in force,
// what it removed is revoked whatever else fails, and reloads apply in the order they were asked.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { sha256Hex } from '../../src/auth/apikeys.js'
import { parseConfig } from '../../src/config/load.js'
import { client, newKeys, testBroker, testConfigYaml, type TestBroker } from '../helper.js'
import { redisServer, type RedisServer } from '../support/redis-server.js'

const keys = { ...newKeys(), 'temp-bot': `ak_temp_${randomBytes(18).toString('base64url')}` }
const TEMP_BOT = `  - { id: temp-bot, owner: alice, api_key_sha256: ${sha256Hex(keys['temp-bot'])} }`

describe('a reload whose config.reloaded event cannot be written', () => {
  let redis: RedisServer
  let t: TestBroker
  let admin: Redis
  beforeAll(async () => {
    redis = await redisServer()
    admin = new Redis(redis.url)
    t = await testBroker({ redisUrl: redis.url, keys, yaml: { extraAgents: TEMP_BOT } })
  })
  afterAll(async () => {
    admin.disconnect()
    await t.broker.close()
    await redis.stop()
  })

  it('still revokes the sessions of a removed agent (retried until the store takes writes)', async () => {
    const api = client(t.app, keys)
    const { grant } = await api.issue('temp-bot')
    const introspect = () => api.post('/v1/introspect', 'internal-api', { token: grant.token })
    expect((await introspect()).body.active).toBe(true)

    // The store refuses writes (reads still answer): the reload's audit event cannot be written.
    await admin.config('SET', 'min-replicas-to-write', '1')
    const without = parseConfig(testConfigYaml(t.prefix, keys), {
      baseDir: '.',
      env: { REDIS_URL: redis.url },
    })
    // The new config is in force: the reload does not report that the old one stayed.
    await t.broker.reload(without)
    expect(t.broker.runtime().agents.has('temp-bot')).toBe(false)
    expect((await api.get('/v1/whoami', 'temp-bot')).status).toBe(401)
    expect(t.logs.lines.some((l) => l.includes('config.reloaded event could not be written'))).toBe(true)

    await admin.config('SET', 'min-replicas-to-write', '0')
    await vi.waitFor(async () => expect((await introspect()).body).toEqual({ active: false }), {
      timeout: 12_000,
      interval: 200,
    })
  }, 20_000)
})
