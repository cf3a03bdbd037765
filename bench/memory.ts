// Redis bytes per issued session, over its whole life: issued (1 s TTL), expired by the sweeper, and
// kept for store.retention with its audit events and index entries. `npm run bench:memory --
// [--sessions 100000]`. A broker runs in this process (requests through fastify's inject, the same
// code path as HTTP without the sockets) against a private redis-server. It reports INFO memory's
// used_memory growth per session and what each part costs (MEMORY USAGE). A million sessions take
// about 8 minutes on an otherwise idle 2-core machine (several times that on a busy one).
import { Redis } from 'ioredis'
import { parseArgs } from 'node:util'
import { parseConfig } from '../src/config/load.js'
import { createLogger } from '../src/log.js'
import { buildBroker } from '../src/broker.js'
import { redisKeys } from '../src/store/keys.js'
import { generateSigningKey } from '../src/tokens/keys.js'
import { newKeys, sessionBody, testConfigYaml } from '../test/support/fixtures.js'
import { redisServer } from '../test/support/redis-server.js'

const { values: args } = parseArgs({ options: { sessions: { type: 'string', default: '100000' } } })
const N = Number(args.sessions)
const PREFIX = 'airlock:'

const redisSrv = await redisServer()
const redis = new Redis(redisSrv.url)
const keys = newKeys()
// The schema's ceiling: a quiet machine issues faster than the fixtures' 100,000 a minute.
const config = parseConfig(testConfigYaml(PREFIX, keys, { perMinute: 1_000_000 }), {
  baseDir: process.cwd(),
  env: { REDIS_URL: redisSrv.url },
})
config.audit.stdout = false
const broker = await buildBroker(
  {
    config,
    logger: createLogger({ level: 'error' }),
  },
  {
    sweeper: false,
    signingKey: await generateSigningKey('EdDSA'),
  },
)
const k = redisKeys(PREFIX)
const used = async () => Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))?.[1])
const usage = async (key: string) => Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'))

try {
  const before = await used()
  const payload = sessionBody({ ttl_seconds: 1 })
  const headers = { authorization: `Bearer ${keys['build-bot']}` }
  for (let i = 0; i < N; i += 200) {
    const rs = await Promise.all(
      Array.from({ length: Math.min(200, N - i) }, () =>
        broker.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload }),
      ),
    )
    const bad = rs.find((r) => r.statusCode !== 201)
    if (bad) throw new Error(`issue failed: ${bad.statusCode} ${bad.body}`)
  }
  const live = await used()
  await new Promise((r) => setTimeout(r, 1100))
  while ((await broker.store.expiryLag(Date.now())).due > 0) await broker.sweepOnce()
  const ended = await used()

  const sample = await redis.zrange(k.created, 0, 999)
  let recordBytes = 0
  for (const id of sample) recordBytes += await usage(k.session(id))
  // Profiles (src/store/record-codec.ts): one key per distinct profile, shared by its sessions.
  let profileBytes = 0
  const profiles = await redis.keys(k.profile('*'))
  for (const key of profiles) profileBytes += await usage(key)
  const events = await redis.xlen(k.audit)
  const report = {
    sessions: N,
    usedMemoryPerSession: { whileLive: (live - before) / N, afterExpiry: (ended - before) / N },
    afterExpiry: {
      record: recordBytes / sample.length,
      profiles: { keys: profiles.length, bytesPerSession: profileBytes / N },
      createdIndex: (await usage(k.created)) / (await redis.zcard(k.created)),
      auditEvents: (await usage(k.audit)) / N,
      auditEventsPerSession: events / N,
    },
  }
  console.log(JSON.stringify(report, null, 2))
} finally {
  await broker.close()
  redis.disconnect()
  await redisSrv.stop()
}
