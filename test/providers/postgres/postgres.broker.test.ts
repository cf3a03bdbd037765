// The postgres provider inside a broker (real Redis, real PostgreSQL with scram-sha-256, the
// sweeper running): grants through the API, revocation and locks cutting open connections, expiry
// swept, hostile text kept as data, and the admin connection string in no response, log or audit.
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, inject, vi } from 'vitest'
import { captureResponses, client, sessionBody, testBroker, type TestBroker } from '../../helper.js'
import { tempDir } from '../../support/broker-process.js'
import type { PgCredentials } from '../../support/pg-provider.js'
import {
  adminAndApp,
  connectAs,
  dropAppDatabases,
  ended,
  postgresProviderYaml,
  roleExists,
  sqlState,
  withPg,
  withUrl,
  type AppDatabases,
} from '../../support/postgres.js'
import { freePort } from '../../support/redis-server.js'

const url = inject('pgScramUrl')
const sfx = randomBytes(4).toString('hex')
const CANARY = `CANARY-pg-${randomBytes(8).toString('hex')}`
const ADMIN = `airlock_admin_${sfx}`
const dir = tempDir()
const stagingRef = join(dir, 'staging-admin.url')
const adminUrl = withUrl(url, { user: ADMIN, password: CANARY })
let brokenUrl: string
let app: AppDatabases
let t: TestBroker
let api: ReturnType<typeof client>
let tag: string
const responses: string[] = []

const body = (over: Record<string, unknown> = {}) => sessionBody({ provider: 'app-db', ...over })
const grantOf = async (over: Record<string, unknown> = {}) => {
  const r = await api.post('/v1/sessions', 'build-bot', body(over))
  expect(r.status, JSON.stringify(r.body)).toBe(201)
  return { id: r.body.session.id as string, cred: r.body.grant.credentials as PgCredentials }
}
const backends = (role: string) =>
  withPg(url, 'postgres', async (c) => {
    const r = await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [role])
    return r.rows[0].n as number
  })

beforeAll(async () => {
  app = await adminAndApp(url, { admin: ADMIN, password: CANARY, tag: `b${sfx}`, ref: stagingRef })
  // prod's admin secret points at a closed port: the broker must keep it to itself all the same.
  brokenUrl = `postgres://${ADMIN}:${CANARY}@127.0.0.1:${await freePort()}/postgres`
  writeFileSync(join(dir, 'prod-admin.url'), brokenUrl)
  t = await testBroker({
    sweeper: true,
    sweepEveryMs: 200,
    yaml: {
      providers: postgresProviderYaml({
        deploymentId: `broker-test-${sfx}`,
        app,
        staging: `file:${stagingRef}`,
        prod: `file:${join(dir, 'prod-admin.url')}`,
      }),
    },
  })
  captureResponses(t.app, responses)
  api = client(t.app, t.keys)
  tag = (await grantOf()).cred.username.split('_')[1] as string
})

afterAll(async () => {
  await t?.close()
  await dropAppDatabases(url, app, [`airlock_${tag}_`, ADMIN])
})

describe('postgres through the broker', () => {
  it('grants a read role: host, port, database, username, password and a url that logs in', async () => {
    const { id, cred } = await grantOf({ operation_class: 'read' })
    expect(cred).toEqual({
      host: '127.0.0.1',
      port: new URL(url).port === '' ? 5432 : Number(new URL(url).port),
      database: app.databases.staging,
      // Named after the session and its issue attempt.
      username: expect.stringMatching(new RegExp(`^airlock_[0-9a-f]{8}_${id}_[0-9a-f]{8}$`)),
      password: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      url: `postgresql://${cred.username}:${cred.password}@127.0.0.1:${cred.port}/${app.databases.staging}`,
    })
    await withPg(cred.url, app.databases.staging, async (c) => {
      expect((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(2)
      expect(await sqlState(c, `INSERT INTO items (name) VALUES ('x')`)).toBe('42501')
    })
  })

  it('DELETE cuts an open connection before it answers, and a new login fails', async () => {
    const { id, cred } = await grantOf({ operation_class: 'write' })
    const c = await connectAs(cred)
    await c.query('SELECT 1')
    const closed = ended(c)
    const r = await api.del(`/v1/sessions/${id}`, 'build-bot')
    expect(r.body.session.status).toBe('revoked')
    expect(await backends(cred.username)).toBe(0)
    expect(await roleExists(url, cred.username)).toBe(false)
    await closed
    await expect(connectAs(cred)).rejects.toMatchObject({ code: '28P01' })
  })

  it('a lock revokes live sessions and drops their roles', async () => {
    const { id, cred } = await grantOf({ task: { id: `LOCK-${sfx}` } })
    const c = await connectAs(cred)
    const closed = ended(c)
    const lock = await api.post('/v1/locks', 'ops', { task_id: `LOCK-${sfx}`, reason: 'test' })
    expect(lock.status).toBe(201)
    await closed
    expect(await roleExists(url, cred.username)).toBe(false)
    expect((await api.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('revoked')
    await api.del(`/v1/locks/${lock.body.lock.id}`, 'ops')
  })

  it('a 2 s session: login fails after expiry and the running sweeper drops the role', async () => {
    const { id, cred } = await grantOf({ ttl_seconds: 2 })
    const c = await connectAs(cred)
    const closed = ended(c)
    await vi.waitFor(async () => expect(await roleExists(url, cred.username)).toBe(false), {
      timeout: 15_000,
      interval: 100,
    })
    await closed
    await expect(connectAs(cred)).rejects.toMatchObject({ code: '28P01' })
    expect((await api.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('expired')
    expect(t.audit.some((l) => l.includes('"session.expired"') && l.includes(id))).toBe(true)
  })

  it('hostile justification and description stay text', async () => {
    const hostile = `'); DROP TABLE items; DROP ROLE postgres; --$$ "x" $q$`
    const { cred } = await grantOf({ justification: hostile, task: { id: 'T-1:a/b', description: hostile } })
    const c = await connectAs(cred)
    expect((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(2)
    await c.end()
    expect(await roleExists(url, 'postgres')).toBe(true)
  })

  it("GET /v1/providers reports prod's unreachable server, without its secret", async () => {
    const r = await api.get('/v1/providers', 'ops')
    const db = (r.body.providers as { name: string; ok: boolean; error: string | null }[]).find(
      (p) => p.name === 'app-db',
    )
    expect(db?.ok).toBe(false)
    expect(db?.error).toMatch(/environment prod: .*ECONNREFUSED/)
  })

  it('a malformed admin secret: 503 unavailable, nothing issued; fixed, it issues again', async () => {
    const provider = t.broker.runtime().providers.get('app-db')!
    writeFileSync(stagingRef, `postgres://${ADMIN}:${CANARY}@127.0.0.1:notaport/x`)
    await provider.secretRotated(`file:${stagingRef}`)
    const r = await api.post('/v1/sessions', 'build-bot', body())
    expect(r.status).toBe(503)
    expect(r.body.error).toBe('unavailable')
    expect(r.body.message).toContain(
      'environment staging: the connection secret is not a valid postgres:// URL',
    )
    writeFileSync(stagingRef, adminUrl)
    await provider.secretRotated(`file:${stagingRef}`)
    await grantOf()
  })

  it('the admin connection string and its password appear in no response, log line or audit event', () => {
    const everything = [...responses, ...t.logs.lines, ...t.audit].join('\n')
    expect(responses.length).toBeGreaterThan(10)
    expect(t.logs.lines.some((l) => l.includes('session role dropped'))).toBe(true)
    for (const secret of [CANARY, encodeURIComponent(CANARY), adminUrl, brokenUrl, 'CANARY']) {
      const at = everything.indexOf(secret)
      expect(at, everything.slice(Math.max(0, at - 200), at + 100)).toBe(-1)
    }
  })
})
