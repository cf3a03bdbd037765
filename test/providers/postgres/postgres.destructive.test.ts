// End to end through the API: a destructive postgres session needs two approvals, and
// then DROP TABLE works in that environment's database only; ending the session drops the role and
// cuts its connection. Read and write grants cannot DROP. Real broker, real Redis, and PostgreSQL
// with scram-sha-256 (so a role's password is really checked at login).
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import pg from 'pg'
import { attemptTag } from '../../../providers/attempts.js'
import { jtiOf } from '../../support/jti.js'
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest'
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

const url = inject('pgScramUrl')
const sfx = randomBytes(4).toString('hex')
const CANARY = `CANARY-pgd-${randomBytes(8).toString('hex')}`
const ADMIN = `airlock_admin_d${sfx}`
const adminRef = join(tempDir(), 'admin.url')
const adminUrl = withUrl(url, { user: ADMIN, password: CANARY })
let app: AppDatabases
let t: TestBroker
let api: ReturnType<typeof client>
let tag = ''
const responses: string[] = []

type Body = Record<string, any>
const body = (over: Record<string, unknown> = {}) => sessionBody({ provider: 'app-db', ...over })
const approve = (sid: string, who: string) =>
  api.post(`/v1/sessions/${sid}/approvals`, who, { decision: 'approve', comment: 'OPS-42' })
const claim = (sid: string, who: string) => api.post(`/v1/sessions/${sid}/grant`, who)
const events = (sid: string) =>
  t.audit.map((l) => JSON.parse(l) as Body).filter((e) => e.session_id === sid && e.type !== undefined)
const tableExists = (env: 'staging' | 'prod', table: string) =>
  withPg(url, app.databases[env], async (c) => {
    const r = await c.query('SELECT to_regclass($1) IS NOT NULL AS there', [`public.${table}`])
    return r.rows[0].there as boolean
  })
/** A fresh table owned by the environment's owner role (what destructive sessions may drop). */
const ownedTable = (env: 'staging' | 'prod', table: string) =>
  withPg(url, app.databases[env], async (c) => {
    await c.query(`CREATE TABLE ${table} (id int)`)
    await c.query(`ALTER TABLE ${table} OWNER TO ${pg.escapeIdentifier(app.owners[env])}`)
  })

/** Requests a destructive session as `agent`, has two approvers approve it, and claims it. */
async function destructiveGrant(agent: string, environment: string, approvers: [string, string]) {
  const r = await api.post('/v1/sessions', agent, body({ environment, operation_class: 'destructive' }))
  expect(r.status, JSON.stringify(r.body)).toBe(202)
  const s = r.body.session as Body
  expect(s).toMatchObject({ status: 'pending_approval', approvals_required: 2, approvals: [] })
  expect(r.body.grant).toBeUndefined()

  // Nothing exists in PostgreSQL before the grant is claimed.
  const early = await claim(s.id, agent)
  expect(early.status).toBe(409)
  expect(early.body.error).toBe('approval_pending')
  const first = await approve(s.id, approvers[0])
  expect(first.status, JSON.stringify(first.body)).toBe(200)
  expect(first.body.session.status).toBe('pending_approval')
  expect((await claim(s.id, agent)).body.error).toBe('approval_pending')
  const second = await approve(s.id, approvers[1])
  expect(second.status, JSON.stringify(second.body)).toBe(200)
  expect(second.body.session.status).toBe('approved')

  const got = await claim(s.id, agent)
  expect(got.status, JSON.stringify(got.body)).toBe(200)
  expect(got.body.session).toMatchObject({ id: s.id, status: 'active', operation_class: 'destructive' })
  const cred = got.body.grant.credentials as PgCredentials
  expect(cred.database).toBe(app.databases[environment as 'staging' | 'prod'])
  // Named after the session and this issue attempt (the token's jti).
  expect(cred.username).toBe(`airlock_${tag}_${s.id}_${attemptTag(jtiOf(got.body.grant.token))}`)
  return { id: s.id as string, cred }
}

beforeAll(async () => {
  app = await adminAndApp(url, { admin: ADMIN, password: CANARY, tag: `d${sfx}`, ref: adminRef })
  t = await testBroker({
    yaml: {
      // Both environments on one server (separate databases): the strictest case for confinement.
      providers: postgresProviderYaml({
        deploymentId: `destructive-test-${sfx}`,
        app,
        staging: `file:${adminRef}`,
        prod: `file:${adminRef}`,
      }),
    },
  })
  captureResponses(t.app, responses)
  api = client(t.app, t.keys)
  const probe = await api.post('/v1/sessions', 'build-bot', body())
  expect(probe.status, JSON.stringify(probe.body)).toBe(201)
  tag = (probe.body.grant.credentials as PgCredentials).username.split('_')[1] as string
  await api.del(`/v1/sessions/${probe.body.session.id}`, 'build-bot')
})

afterAll(async () => {
  await t?.close()
  await dropAppDatabases(url, app, [`airlock_${tag}_`, ADMIN])
})

describe('postgres destructive sessions through the API', () => {
  it('after two approvals DROP TABLE works in staging only; DELETE drops the role and cuts the connection', async () => {
    await ownedTable('staging', 'doomed')
    await ownedTable('prod', 'doomed')
    // build-bot is owned by alice, so bob and carol are its approvers; alice may not approve.
    const r = await api.post('/v1/sessions', 'build-bot', body({ operation_class: 'destructive' }))
    expect(r.status).toBe(202)
    const owner = await approve(r.body.session.id, 'alice')
    expect(owner.status).toBe(403)
    expect(owner.body.error).toBe('forbidden')
    await api.del(`/v1/sessions/${r.body.session.id}`, 'build-bot')

    const { id, cred } = await destructiveGrant('build-bot', 'staging', ['bob', 'carol'])
    const c = await connectAs(cred)
    expect(await sqlState(c, 'DROP TABLE doomed')).toBe('ok')
    expect(await tableExists('staging', 'doomed')).toBe(false)
    // It writes like a write session, and creates in the managed schema.
    expect(await sqlState(c, `DELETE FROM items WHERE name = 'a'`)).toBe('ok')
    expect(await sqlState(c, 'CREATE TABLE made_by_session (id int)')).toBe('ok')

    // The same role in prod's database: refused at login, and prod's table is untouched.
    await expect(connectAs({ ...cred, database: app.databases.prod })).rejects.toMatchObject({
      code: '42501',
    })
    expect(await tableExists('prod', 'doomed')).toBe(true)
    // Nor can it reach prod from its own connection (no SET ROLE to an owner, no dblink).
    expect(await sqlState(c, `SET ROLE ${pg.escapeIdentifier(app.owners.prod)}`)).toBe('42501')

    const closed = ended(c)
    const del = await api.del(`/v1/sessions/${id}`, 'build-bot')
    expect(del.status).toBe(200)
    expect(del.body.session.status).toBe('revoked')
    // DELETE answers only after the role is gone and its connection cut.
    expect(await roleExists(url, cred.username)).toBe(false)
    await closed
    await expect(connectAs(cred)).rejects.toMatchObject({ code: '28P01' })
    // What the session created was handed to the owner, not dropped with the role.
    expect(await tableExists('staging', 'made_by_session')).toBe(true)

    expect(events(id).map((e) => e.type)).toEqual([
      'session.requested',
      'session.approval',
      'session.approved',
      'session.issued',
      'session.revoked',
    ])
    expect(events(id)[2]).toMatchObject({ actor: 'carol', details: { approvers: ['bob', 'carol'] } })
  })

  it("code a destructive session leaves behind runs as its caller: a later read session cannot borrow the owner's rights", async () => {
    await ownedTable('staging', 'guarded')
    const { id, cred } = await destructiveGrant('build-bot', 'staging', ['bob', 'carol'])
    const c = await connectAs(cred)
    // A function that would run any SQL with its owner's rights, once the owner has it.
    expect(
      await sqlState(
        c,
        `CREATE FUNCTION run_as_owner(q text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
           AS $$ BEGIN EXECUTE q; END $$`,
      ),
    ).toBe('ok')
    await c.end()
    expect((await api.del(`/v1/sessions/${id}`, 'build-bot')).status).toBe(200)
    const kept = await withPg(url, app.databases.staging, async (x) => {
      const r = await x.query(
        `SELECT pg_get_userbyid(proowner) AS owner, prosecdef, has_function_privilege('public', oid, 'EXECUTE') AS public
           FROM pg_proc WHERE proname = 'run_as_owner'`,
      )
      return r.rows[0] as { owner: string; prosecdef: boolean; public: boolean }
    })
    expect(kept).toEqual({ owner: app.owners.staging, prosecdef: false, public: false })

    const read = await api.post('/v1/sessions', 'build-bot', body())
    expect(read.status).toBe(201)
    const rc = await connectAs(read.body.grant.credentials as PgCredentials)
    expect(await sqlState(rc, `SELECT run_as_owner('DROP TABLE guarded')`)).toBe('42501')
    await rc.end()
    expect(await tableExists('staging', 'guarded')).toBe(true)
    await api.del(`/v1/sessions/${read.body.session.id}`, 'build-bot')
  })

  it('prod: another agent, two other approvers; the role drops a prod table and cannot enter staging', async () => {
    await ownedTable('prod', 'old_audit')
    // build-bot may never destroy prod (a deny rule); other-bot (owned by bob) may, with alice and carol.
    const denied = await api.post(
      '/v1/sessions',
      'build-bot',
      body({ environment: 'prod', operation_class: 'destructive' }),
    )
    expect(denied.status).toBe(403)
    expect(denied.body.error).toBe('policy_denied')

    const { id, cred } = await destructiveGrant('other-bot', 'prod', ['alice', 'carol'])
    await withPg(cred.url, app.databases.prod, async (c) => {
      expect(await sqlState(c, 'DROP TABLE old_audit')).toBe('ok')
    })
    expect(await tableExists('prod', 'old_audit')).toBe(false)
    await expect(connectAs({ ...cred, database: app.databases.staging })).rejects.toMatchObject({
      code: '42501',
    })
    await api.del(`/v1/sessions/${id}`, 'ops')
    expect(await roleExists(url, cred.username)).toBe(false)
  })

  it.each(['read', 'write'])('a %s grant through the API cannot DROP, TRUNCATE or ALTER', async (cls) => {
    await ownedTable('staging', `kept_${cls}`)
    const r = await api.post('/v1/sessions', 'build-bot', body({ operation_class: cls }))
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    const cred = r.body.grant.credentials as PgCredentials
    await withPg(cred.url, app.databases.staging, async (c) => {
      expect(await sqlState(c, `DROP TABLE kept_${cls}`)).toBe('42501')
      expect(await sqlState(c, 'DROP TABLE items')).toBe('42501')
      expect(await sqlState(c, 'TRUNCATE items')).toBe('42501')
      expect(await sqlState(c, 'ALTER TABLE items ADD COLUMN x int')).toBe('42501')
      expect(await sqlState(c, 'CREATE TABLE sneaky (id int)')).toBe('42501')
      expect((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBeGreaterThan(0)
    })
    expect(await tableExists('staging', `kept_${cls}`)).toBe(true)
    await api.del(`/v1/sessions/${r.body.session.id}`, 'build-bot')
  })

  it('the admin connection string and its password appear in no response, log line or audit event', () => {
    const everything = [...responses, ...t.logs.lines, ...t.audit].join('\n')
    expect(responses.length).toBeGreaterThan(10)
    for (const secret of [CANARY, encodeURIComponent(CANARY), adminUrl, 'CANARY']) {
      const at = everything.indexOf(secret)
      expect(at, everything.slice(Math.max(0, at - 200), at + 100)).toBe(-1)
    }
  })
})
