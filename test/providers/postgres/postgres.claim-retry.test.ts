// A PostgreSQL claim undone after too few Redis replicas acknowledged it (see
// docs/high-availability.md), then retried, on a real scram-sha-256 server: each issue attempt has
// its own login role, so the undone attempt's role is dropped while the retry's role logs in, also
// when the undone attempt's revocation failed, was queued, and ran only after the retry was issued.
// Roles named after the session alone (earlier versions) are still dropped.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, inject, vi } from 'vitest'
import { roleNames } from '../../../providers/postgres/names.js'
import { client, TestClock, testBroker, type TestBroker } from '../../helper.js'
import { tempDir } from '../../support/broker-process.js'
import { jtiOf } from '../../support/jti.js'
import type { PgCredentials } from '../../support/pg-provider.js'
import {
  adminAndApp,
  connectAs,
  dropAppDatabases,
  postgresProviderYaml,
  roleExists,
  withPg,
  type AppDatabases,
} from '../../support/postgres.js'
import { claimUndone } from '../../support/unacked.js'

const url = inject('pgScramUrl')
const sfx = randomBytes(4).toString('hex')
const ADMIN = `airlock_admin_${sfx}`
const PASSWORD = randomBytes(12).toString('hex')
const DEPLOYMENT = `claim-retry-test-${sfx}`
const names = roleNames(DEPLOYMENT, 'app-db')
const adminRef = join(tempDir(), 'admin.url')
const clock = new TestClock()
let app: AppDatabases
let t: TestBroker
let api: ReturnType<typeof client>

beforeAll(async () => {
  app = await adminAndApp(url, { admin: ADMIN, password: PASSWORD, tag: `r${sfx}`, ref: adminRef })
  t = await testBroker({
    clock,
    yaml: {
      providers: postgresProviderYaml({
        deploymentId: DEPLOYMENT,
        app,
        staging: `file:${adminRef}`,
        prod: `file:${adminRef}`,
      }),
    },
  })
  api = client(t.app, t.keys)
})
afterEach(() => vi.restoreAllMocks())
afterAll(async () => {
  await t?.close()
  await dropAppDatabases(url, app, [`airlock_${names.tag}_`, ADMIN])
})

/** An approved destructive staging request of build-bot on app-db (bob and carol approve). */
const approved = () => api.approved({ provider: 'app-db' })
const claim = (id: string) => api.post(`/v1/sessions/${id}/grant`, 'build-bot')
/** Logs in with the credentials and reads who it is. */
const login = async (cred: PgCredentials) => {
  const c = await connectAs(cred)
  try {
    return (await c.query('SELECT current_user AS u')).rows[0].u as string
  } finally {
    await c.end()
  }
}

describe('postgres: a claim undone and retried', () => {
  it("drops the undone attempt's role; the retry's own role logs in", async () => {
    const id = await approved()
    const undone = await claimUndone(t, id)
    expect(undone.details).toMatchObject({ from: 'active', credentials_revoked: true })
    const role1 = names.session(id, undone.details.jti)
    expect(await roleExists(url, role1)).toBe(false)

    const again = await claim(id)
    expect(again.status, JSON.stringify(again.body)).toBe(200)
    const cred = again.body.grant.credentials as PgCredentials
    const role2 = names.session(id, jtiOf(again.body.grant.token))
    expect(cred.username).toBe(role2)
    expect(role2).not.toBe(role1)
    expect(names.sessionOf(role2)).toBe(id)
    expect(await login(cred)).toBe(role2)

    expect((await api.del(`/v1/sessions/${id}`, 'ops')).status).toBe(200)
    expect(await roleExists(url, role2)).toBe(false)
  })

  it("a revocation that failed and was queued drops only the undone attempt's role when it runs after the retry", async () => {
    const id = await approved()
    const provider = t.broker.runtime().providers.get('app-db')!
    // The first revocation of the undone attempt fails (the server unreachable for a moment).
    vi.spyOn(provider, 'revoke').mockRejectedValueOnce(new Error('server unreachable'))
    const undone = await claimUndone(t, id)
    expect(undone.details).toMatchObject({ credentials_revoked: false, credentials_revocation_queued: true })
    const role1 = names.session(id, undone.details.jti)
    expect(await roleExists(url, role1)).toBe(true) // its revocation waits in the queue
    expect(await t.broker.revocations.size()).toBe(1)

    const again = await claim(id)
    expect(again.status, JSON.stringify(again.body)).toBe(200)
    const cred = again.body.grant.credentials as PgCredentials
    const role2 = names.session(id, jtiOf(again.body.grant.token))
    expect(cred.username).toBe(role2)
    const open = await connectAs(cred)

    clock.advance(5_000) // past the first retry's backoff (at most 2 s)
    await t.broker.sweepOnce()
    expect(await t.broker.revocations.size()).toBe(0)
    expect(await roleExists(url, role1)).toBe(false)
    // The second attempt is untouched: its open connection still works, and it logs in again.
    expect((await open.query('SELECT current_user AS u')).rows[0].u).toBe(role2)
    await open.end()
    expect(await login(cred)).toBe(role2)
    expect((await api.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('active')
    expect((await api.del(`/v1/sessions/${id}`, 'ops')).status).toBe(200)
    expect(await roleExists(url, role2)).toBe(false)
  })

  it('roles named after the session by an earlier version are still dropped, with or without a handle', async () => {
    const provider = t.broker.runtime().providers.get('app-db')!
    const legacy = async (sessionId: string) => {
      const role = names.session(sessionId) // the earlier name: the session id alone
      await withPg(url, 'postgres', (c) => c.query(`CREATE ROLE ${role} LOGIN`))
      expect(names.sessionOf(role)).toBe(sessionId)
      expect(names.isSessionRoleFor(role, sessionId)).toBe(true)
      return role
    }
    const base = { environment: 'staging', operationClass: 'read', expiresAt: clock.now() + 60_000 }
    // With the handle the earlier version recorded, and the record's jti as every revoke now passes.
    const a = 'ses_legacyHANDLE00000000001'
    const roleA = await legacy(a)
    await provider.revoke({
      ...base,
      sessionId: a,
      attempt: 'jtiOfTheLegacyRecord1',
      handle: { role: roleA },
    })
    expect(await roleExists(url, roleA)).toBe(false)
    // Issuing that never finished (no handle): the attempt's role and the session-named one are tried.
    const b = 'ses_legacyNOHANDLE000000001'
    const roleB = await legacy(b)
    await provider.revoke({ ...base, sessionId: b, attempt: 'jtiOfTheLegacyRecord2', handle: null })
    expect(await roleExists(url, roleB)).toBe(false)
    // A revocation queued by an earlier version (no attempt at all).
    const c = 'ses_legacyQUEUED00000000001'
    const roleC = await legacy(c)
    await provider.revoke({ ...base, sessionId: c, handle: null })
    expect(await roleExists(url, roleC)).toBe(false)
  })
})
