// Two deployments (two Redis databases, so two session stores) with the same key prefix and no
// deployment_id, on one PostgreSQL server: each has its own role tag, reaps its own leftovers and
// leaves the other's live roles alone. With the key prefix as the tag they reaped each other's.
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { redisKeys } from '../../../src/store/keys.js'
import { client, newKeys, sessionBody, testBroker, type TestBroker } from '../../helper.js'
import { tempDir } from '../../support/broker-process.js'
import type { PgCredentials } from '../../support/pg-provider.js'
import {
  cleanup,
  createAppDatabases,
  postgresProviderYaml,
  roleExists,
  type AppDatabases,
} from '../../support/postgres.js'

const url = inject('pgScramUrl')
const sfx = randomBytes(4).toString('hex')
// The same prefix for both: the default `airlock:` in real life.
const prefix = `airlock-test:pg2dep-${sfx}:`
const keys = newKeys()
const dir = tempDir()
const adminRef = join(dir, 'admin.url')
/** The test Redis, database 0 for one deployment and 9 for the other. */
const redisDb = (db: number) => {
  const u = new URL(inject('redisUrl'))
  u.pathname = `/${db}`
  return u.toString()
}
let app: AppDatabases
let one: TestBroker
let two: TestBroker
const tags = new Set<string>()

beforeAll(async () => {
  app = await createAppDatabases(url, `z${sfx}`)
  writeFileSync(adminRef, url)
  const yaml = {
    providers: postgresProviderYaml({ app, staging: `file:${adminRef}`, prod: `file:${adminRef}` }),
  }
  one = await testBroker({ prefix, keys, yaml, redisUrl: redisDb(0) })
  two = await testBroker({ prefix, keys, yaml, redisUrl: redisDb(9) })
}, 60_000)

afterAll(async () => {
  await one?.close()
  await two?.close()
  await cleanup(url, Object.values(app.databases), [
    ...[...tags].map((t) => `airlock_${t}_`),
    ...Object.values(app.owners),
  ])
})

async function grant(t: TestBroker) {
  const r = await client(t.app, keys).post('/v1/sessions', 'build-bot', sessionBody({ provider: 'app-db' }))
  expect(r.status, JSON.stringify(r.body)).toBe(201)
  const cred = r.body.grant.credentials as PgCredentials
  tags.add(cred.username.split('_')[1] as string)
  return { id: r.body.session.id as string, cred }
}

/** The session's record vanishes from its own store, as after a crash: a leftover to reap. */
async function loseRecord(t: TestBroker, id: string) {
  const redis = new Redis(t.redisUrl)
  const k = redisKeys(prefix)
  await redis.multi().del(k.session(id)).zrem(k.deadlines, id).zrem(k.created, id).exec()
  redis.disconnect()
}

describe('two deployments on one PostgreSQL server with the same key prefix', () => {
  it('get different role tags and never reap each other’s roles', async () => {
    const liveOne = await grant(one)
    const lostOne = await grant(one)
    const liveTwo = await grant(two)
    const lostTwo = await grant(two)
    expect(tags.size).toBe(2)
    await loseRecord(one, lostOne.id)
    await loseRecord(two, lostTwo.id)

    // Each sweep (the first reaps at once) drops its own leftover and nothing of the other's.
    await one.broker.sweepOnce()
    expect(await roleExists(url, lostOne.cred.username)).toBe(false)
    expect(await roleExists(url, liveTwo.cred.username)).toBe(true)
    expect(await roleExists(url, lostTwo.cred.username)).toBe(true)
    await two.broker.sweepOnce()
    expect(await roleExists(url, lostTwo.cred.username)).toBe(false)
    expect(await roleExists(url, liveOne.cred.username)).toBe(true)

    // Restarted (same Redis), a deployment keeps its tag: its live roles are still its own.
    await one.broker.close()
    one = await testBroker({
      prefix,
      keys,
      redisUrl: redisDb(0),
      yaml: {
        providers: postgresProviderYaml({ app, staging: `file:${adminRef}`, prod: `file:${adminRef}` }),
      },
    })
    const again = await grant(one)
    expect(again.cred.username.split('_')[1]).toBe(liveOne.cred.username.split('_')[1])
    for (const [t, s] of [
      [one, liveOne],
      [one, again],
      [two, liveTwo],
    ] as const) {
      expect((await client(t.app, keys).del(`/v1/sessions/${s.id}`, 'build-bot')).status).toBe(200)
      expect(await roleExists(url, s.cred.username)).toBe(false)
    }
  }, 60_000)
})
