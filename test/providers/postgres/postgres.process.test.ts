// A real `airlock serve` process with postgres sessions, killed with SIGKILL: while it is down,
// VALID UNTIL stops new logins at the sessions' end; restarted, it drops their roles (expiry) and
// any role of a session it does not know (reaping), and cuts what was still connected.
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, inject, vi } from 'vitest'
import { deletePrefix, newKeys, sessionBody, testConfigYaml } from '../../helper.js'
import {
  freePort,
  startBrokerProcess,
  tempDir,
  writeSigningKey,
  type BrokerProcess,
} from '../../support/broker-process.js'
import { buildProvider, issueInput, MapSecrets, type PgCredentials } from '../../support/pg-provider.js'
import {
  connectAs,
  createAppDatabases,
  dropAppDatabases,
  ended,
  postgresProviderYaml,
  roleExists,
  type AppDatabases,
} from '../../support/postgres.js'

const redisUrl = inject('redisUrl')
const url = inject('pgScramUrl')
const sfx = randomBytes(4).toString('hex')
const prefix = `airlock-test:pgproc-${sfx}:`
const deploymentId = `process-test-${sfx}`
const keys = newKeys()
const dir = tempDir()
const signing = writeSigningKey(dir)
const adminRef = join(dir, 'admin.url')
let app: AppDatabases
let broker: BrokerProcess | null = null
let tag = ''

const configFile = async (): Promise<string> => {
  const yaml = testConfigYaml(prefix, keys, {
    providers: postgresProviderYaml({
      deploymentId,
      app,
      staging: `file:${adminRef}`,
      prod: `file:${adminRef}`,
    }),
    port: await freePort(),
    signingKeyPath: signing.path,
  })
  const path = join(dir, `airlock-${randomBytes(3).toString('hex')}.yaml`)
  writeFileSync(path, yaml)
  return path
}

const request = async (p: BrokerProcess, over: Record<string, unknown>) => {
  const r = await fetch(`${p.url}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys['build-bot']}`, 'content-type': 'application/json' },
    body: JSON.stringify(sessionBody({ provider: 'app-db', ...over })),
  })
  const body = (await r.json()) as Record<string, any>
  expect(r.status, JSON.stringify(body)).toBe(201)
  return body.grant.credentials as PgCredentials
}

beforeAll(async () => {
  app = await createAppDatabases(url, `p${sfx}`)
  writeFileSync(adminRef, url)
}, 60_000)

afterAll(async () => {
  await broker?.stop()
  await deletePrefix(redisUrl, prefix)
  await dropAppDatabases(url, app, [`airlock_${tag}_`])
})

describe('a broker killed with live postgres sessions', () => {
  it('leaves nothing behind once restarted after they expired', async () => {
    const env = { REDIS_URL: redisUrl, AIRLOCK_LOG_LEVEL: 'info' }
    broker = await startBrokerProcess(await configFile(), env)
    const held = await request(broker, { ttl_seconds: 3, operation_class: 'write' })
    const other = await request(broker, { ttl_seconds: 3, task: { id: 'KILL-2' } })
    tag = held.username.split('_')[1] as string
    const conn = await connectAs(held)
    const closed = ended(conn)

    // A role whose session the broker never recorded (a crash between the provider and Redis).
    const stray = buildProvider(
      {
        deployment_id: deploymentId,
        environments: {
          staging: { connection: 'vault:admin', database: app.databases.staging, owner: app.owners.staging },
        },
      },
      { secrets: new MapSecrets(new Map([['vault:admin', url]])) },
    )
    const orphan = (await stray.issue(issueInput())).credentials as unknown as PgCredentials
    await stray.close()

    broker.child.kill('SIGKILL')
    expect(await broker.stop()).toBeNull()
    broker = null

    // Down: the roles remain, but nobody logs in after the sessions' end.
    await vi.waitFor(() => expect(connectAs(other)).rejects.toMatchObject({ code: '28P01' }), {
      timeout: 15_000,
      interval: 200,
    })
    for (const c of [held, other, orphan]) expect(await roleExists(url, c.username)).toBe(true)
    expect((await conn.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])

    broker = await startBrokerProcess(await configFile(), env)
    await vi.waitFor(
      async () => {
        for (const c of [held, other, orphan]) expect(await roleExists(url, c.username)).toBe(false)
      },
      { timeout: 30_000, interval: 200 },
    )
    await closed
    const out = [...broker.stdout, ...broker.stderr].join('\n')
    expect(out).toContain('reaped leftovers of unknown sessions')
    expect(out).not.toContain(new URL(url).password)
  }, 90_000)
})
