// High-availability benchmark: `npm run bench:ha -- [--requests 400] [--concurrency 8] [--failovers 5]`.
//   acks:     issue + introspect throughput against a private primary with one replica, with
//             store.replica_acks 0 and then 1 (every grant waits for the replica: WAIT 1).
//   failover: a primary, two replicas and three sentinels; a broker (replica_acks 1) issues in a
//             loop while the primary is SIGKILLed, --failovers times (the killed node comes back as
//             a replica each time). Reports the gap from the kill to the next grant.
// In-process brokers (fastify inject): this measures the store and Redis, not HTTP. It asserts nothing.
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { parseConfig } from '../src/config/load.js'
import { createLogger } from '../src/log.js'
import { buildBroker, type RunningBroker } from '../src/broker.js'
import { generateSigningKey } from '../src/tokens/keys.js'
import { newKeys, sessionBody, testConfigYaml } from '../test/support/fixtures.js'
import { startSentinelSet, until } from '../test/support/redis-ha.js'
import { redisServer } from '../test/support/redis-server.js'

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '400' },
    concurrency: { type: 'string', default: '8' },
    failovers: { type: 'string', default: '5' },
  },
})
const REQUESTS = Number(args.requests)
const CONCURRENCY = Number(args.concurrency)
const FAILOVERS = Number(args.failovers)
const keys = newKeys()

async function broker(
  redis: string,
  store: string,
  env: Record<string, string> = {},
): Promise<RunningBroker> {
  const prefix = `airlock-bench:${randomBytes(4).toString('hex')}:`
  const config = parseConfig(testConfigYaml(prefix, keys, { redis, store }), { baseDir: process.cwd(), env })
  return buildBroker(
    {
      config,
      logger: createLogger({ level: 'fatal' }),
    },
    {
      sweeper: false,
      auditOut: () => {},
      signingKey: await generateSigningKey('EdDSA'),
    },
  )
}

const issue = (b: RunningBroker) =>
  b.app.inject({
    method: 'POST',
    url: '/v1/sessions',
    headers: { authorization: `Bearer ${keys['build-bot']}` },
    payload: sessionBody(),
  })

async function throughput(b: RunningBroker): Promise<{ perSecond: number; failed: number }> {
  let next = 0
  let failed = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < REQUESTS) {
        const r = await issue(b)
        if (r.statusCode !== 201) {
          failed++
          continue
        }
        const i = await b.app.inject({
          method: 'POST',
          url: '/v1/introspect',
          headers: { authorization: `Bearer ${keys['internal-api']}` },
          payload: { token: r.json().grant.token },
        })
        if (i.statusCode !== 200) failed++
      }
    }),
  )
  return { perSecond: Math.round(REQUESTS / ((performance.now() - started) / 1000)), failed }
}

async function acks() {
  const primary = await redisServer()
  const replica = await redisServer(['--replicaof', '127.0.0.1', String(primary.port)])
  try {
    // Both orders: on a shared machine the first run pays for warming up the process.
    for (const n of [0, 1, 1, 0]) {
      const b = await broker('redis_url: env:REDIS_URL', `replica_acks: ${n}`, { REDIS_URL: primary.url })
      try {
        await throughput(b) // warm-up: JIT, scripts loaded, the replica in sync
        const r = await throughput(b)
        console.log(`acks: replica_acks ${n}: ${r.perSecond} issue+introspect/s (${r.failed} failed)`)
      } finally {
        await b.close()
      }
    }
  } finally {
    await replica.stop()
    await primary.stop()
  }
}

async function failovers() {
  const set = await startSentinelSet(2)
  const sentinels = set.sentinelPorts.map((p) => `"127.0.0.1:${p}"`).join(', ')
  const b = await broker(`sentinel: { name: ${set.name}, sentinels: [${sentinels}] }`, 'replica_acks: 1')
  const gaps: number[] = []
  try {
    for (let i = 0; i < FAILOVERS; i++) {
      const oldPort = await set.primaryPort()
      const killed = set.nodes.find((n) => n.port === oldPort)
      if (!killed) throw new Error(`no node on port ${oldPort}`)
      await until('a grant before the kill', async () => (await issue(b)).statusCode === 201)
      const killedAt = performance.now()
      await killed.stop()
      for (;;) {
        const started = performance.now()
        if ((await issue(b)).statusCode === 201) {
          gaps.push(Math.round(started - killedAt))
          break
        }
        if (started - killedAt > 60_000) throw new Error('no grant within 60 s of the kill')
      }
      await set.failedOver(oldPort, 1)
      // Back as an empty node: the sentinels make it a replica of the new primary.
      await killed.start()
      await until('two replicas again', async () => {
        const r = await set.primaryPort()
        const { Redis } = await import('ioredis')
        const c = new Redis({ port: r, lazyConnect: true, maxRetriesPerRequest: 0 })
        c.on('error', () => {})
        try {
          await c.connect()
          return ((await c.info('replication')).match(/state=online/g) ?? []).length === 2
        } finally {
          c.disconnect()
        }
      })
      console.log(`failover ${i + 1}: ${gaps[i]} ms from SIGKILL to the next grant`)
    }
  } finally {
    await b.close()
    await set.stop()
  }
  const sorted = [...gaps].sort((x, y) => x - y)
  console.log(
    `failover: ${gaps.length} failovers, gap min ${sorted[0]} ms, median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms`,
  )
}

await acks()
await failovers()
