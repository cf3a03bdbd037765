// Replicas of one deployment on different hosts: one broker in this process, another as a real
// `airlock serve` in its own UTS namespace with another host name, on the same Redis and key
// prefix, and no `deployment_id` set. Their postgres roles carry one tag, so each reaps the other's
// leftovers (a role whose session record is gone) and leaves live sessions' roles alone.
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, inject, vi } from 'vitest'
import { redisKeys } from '../../../src/store/keys.js'
import { client, newKeys, sessionBody, testBroker, testConfigYaml, type TestBroker } from '../../helper.js'
import {
  freePort,
  startBrokerProcess,
  tempDir,
  writeSigningKey,
  type BrokerProcess,
} from '../../support/broker-process.js'
import type { PgCredentials } from '../../support/pg-provider.js'
import {
  createAppDatabases,
  dropAppDatabases,
  postgresProviderYaml,
  roleExists,
  type AppDatabases,
} from '../../support/postgres.js'

const redisUrl = inject('redisUrl')
const url = inject('pgScramUrl')
const sfx = randomBytes(4).toString('hex')
const prefix = `airlock-test:pgdep-${sfx}:`
const OTHER_HOST = `airlock-replica-${sfx}`
const keys = newKeys()
const dir = tempDir()
const adminRef = join(dir, 'admin.url')
let app: AppDatabases
let a: TestBroker
let b: BrokerProcess | null = null
let redis: Redis
let tag = ''

const yaml = () => ({
  providers: postgresProviderYaml({ app, staging: `file:${adminRef}`, prod: `file:${adminRef}` }),
})
const roleTag = (cred: PgCredentials) => cred.username.split('_')[1] as string

/** A session through broker A (in this process). */
async function viaA() {
  const r = await client(a.app, keys).post('/v1/sessions', 'build-bot', sessionBody({ provider: 'app-db' }))
  expect(r.status, JSON.stringify(r.body)).toBe(201)
  return { id: r.body.session.id as string, cred: r.body.grant.credentials as PgCredentials }
}

/** A session through broker B (the process on the other host). */
async function viaB() {
  const r = await fetch(`${(b as BrokerProcess).url}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys['build-bot']}`, 'content-type': 'application/json' },
    body: JSON.stringify(sessionBody({ provider: 'app-db' })),
  })
  const body = (await r.json()) as Record<string, any>
  expect(r.status, JSON.stringify(body)).toBe(201)
  return { id: body.session.id as string, cred: body.grant.credentials as PgCredentials }
}

/** The session's record vanishes, as after a crash between minting the role and recording it. */
async function loseRecord(id: string) {
  const k = redisKeys(prefix)
  await redis.multi().del(k.session(id)).zrem(k.deadlines, id).zrem(k.created, id).exec()
}

async function startB(): Promise<BrokerProcess> {
  const signing = writeSigningKey(dir)
  const config = testConfigYaml(prefix, keys, {
    ...yaml(),
    port: await freePort(),
    signingKeyPath: signing.path,
  })
  const path = join(dir, 'replica-b.yaml')
  writeFileSync(path, config)
  return startBrokerProcess(path, { REDIS_URL: redisUrl, AIRLOCK_LOG_LEVEL: 'info' }, { host: OTHER_HOST })
}

beforeAll(async () => {
  app = await createAppDatabases(url, `y${sfx}`)
  writeFileSync(adminRef, url)
  redis = new Redis(redisUrl)
  a = await testBroker({ prefix, keys, yaml: yaml() })
}, 60_000)

afterAll(async () => {
  await b?.stop()
  await a?.close()
  redis?.disconnect()
  await dropAppDatabases(url, app, [`airlock_${tag}_`])
})

describe('one deployment, replicas on two hosts, no deployment_id', () => {
  it('share one role tag and reap each other’s leftovers, but not live sessions', async () => {
    const liveA = await viaA()
    const lostA = await viaA()
    tag = roleTag(liveA.cred)
    await loseRecord(lostA.id)

    // B starts on another host; its first sweep reaps A's leftover.
    b = await startB()
    const started = await b.waitForLine(/"broker\.started"/)
    expect(JSON.parse(started).details.host).toBe(OTHER_HOST)
    expect(hostname()).not.toBe(OTHER_HOST)
    await vi.waitFor(async () => expect(await roleExists(url, lostA.cred.username)).toBe(false), {
      timeout: 15_000,
      interval: 200,
    })
    await b.waitForLine(/reaped leftovers of unknown sessions/)
    expect(await roleExists(url, liveA.cred.username)).toBe(true)

    const liveB = await viaB()
    const lostB = await viaB()
    expect(roleTag(liveB.cred)).toBe(tag)
    await loseRecord(lostB.id)

    // B goes away; A takes the sweeper lease once B's runs out (5 s) and reaps B's leftover.
    expect(await b.stop()).toBe(0)
    b = null
    await vi.waitFor(
      async () => {
        await a.broker.sweepOnce()
        expect(await roleExists(url, lostB.cred.username)).toBe(false)
      },
      { timeout: 15_000, interval: 250 },
    )
    expect(a.logs.lines.some((l) => l.includes('reaped leftovers of unknown sessions'))).toBe(true)
    for (const live of [liveA, liveB]) {
      expect(await roleExists(url, live.cred.username)).toBe(true)
      expect((await client(a.app, keys).del(`/v1/sessions/${live.id}`, 'build-bot')).status).toBe(200)
      expect(await roleExists(url, live.cred.username)).toBe(false)
    }
  }, 60_000)
})
