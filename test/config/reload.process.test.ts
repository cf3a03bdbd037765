// SIGHUP on a real `airlock serve`: a reload that removes an agent, a provider (postgres, real
// roles) or an environment revokes the live sessions that depended on it, audited with the reason
// and with the provider's credentials revoked; a reload that changes a restart-only setting is
// refused naming it, and the old config stays in force.
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest'
import { sha256Hex } from '../../src/auth/apikeys.js'
import { deletePrefix, newKeys, sessionBody, testConfigYaml } from '../helper.js'
import {
  callApi,
  freePort,
  startBrokerProcess,
  tempDir,
  writeSigningKey,
  type BrokerProcess,
} from '../support/broker-process.js'
import type { PgCredentials } from '../support/pg-provider.js'
import {
  connectAs,
  createAppDatabases,
  dropAppDatabases,
  ended,
  postgresProviderYaml,
  roleExists,
  type AppDatabases,
} from '../support/postgres.js'

const redisUrl = inject('redisUrl')
const url = inject('pgScramUrl')
const sfx = randomBytes(4).toString('hex')
const prefix = `airlock-test:reload-${sfx}:`
const keys = { ...newKeys(), 'temp-bot': `ak_temp_${randomBytes(18).toString('base64url')}` }
const dir = tempDir()
const signing = writeSigningKey(dir)
const adminRef = join(dir, 'admin.url')
const configPath = join(dir, 'airlock.yaml')
let app: AppDatabases
let broker: BrokerProcess
let port = 0
let tag = ''

const SANDBOX_POLICY = `policies:
  - description: anyone reads the sandbox
    agents: ["*"]
    environments: [sandbox]
    operation_classes: [read]
    providers: ["*"]
`
/** The config before the reload: one more agent, the postgres provider and a sandbox environment. */
const fullConfig = () =>
  testConfigYaml(prefix, keys, {
    port,
    signingKeyPath: signing.path,
    extraAgents: `  - { id: temp-bot, owner: alice, api_key_sha256: ${sha256Hex(keys['temp-bot'])} }`,
    providers: postgresProviderYaml({
      deploymentId: `reload-${sfx}`,
      app,
      staging: `file:${adminRef}`,
      prod: `file:${adminRef}`,
    }),
  })
    .replace(
      'environments: [{ name: staging }, { name: prod }]',
      'environments: [{ name: staging }, { name: prod }, { name: sandbox }]',
    )
    .replace('policies:\n', SANDBOX_POLICY)
/** The config after it: all three removed. */
const reducedConfig = () => testConfigYaml(prefix, keys, { port, signingKeyPath: signing.path })

type Body = Record<string, any>
const call = (method: string, path: string, who: keyof typeof keys, body?: unknown) =>
  callApi(broker.url, method, path, keys[who], body)
const request = async (agent: keyof typeof keys, over: Record<string, unknown>, status = 201) => {
  const r = await call('POST', '/v1/sessions', agent, sessionBody(over))
  expect(r.status, JSON.stringify(r.body)).toBe(status)
  return r.body as { session: Body; grant?: { token: string; credentials: Body } }
}
const statusOf = async (id: string) => (await call('GET', `/v1/sessions/${id}`, 'ops')).body.status as string
const active = async (token: string) =>
  (await call('POST', '/v1/introspect', 'internal-api', { token })).body.active as boolean
const auditEvents = () =>
  broker.stdout.flatMap((l) => {
    try {
      return [JSON.parse(l) as Body]
    } catch {
      return []
    }
  })
const sighup = async (outcome: RegExp) => {
  const seen = broker.waitForLine(outcome, Number.MAX_SAFE_INTEGER)
  broker.child.kill('SIGHUP')
  return seen
}

beforeAll(async () => {
  app = await createAppDatabases(url, `r${sfx}`)
  writeFileSync(adminRef, url)
  port = await freePort()
  writeFileSync(configPath, fullConfig())
  broker = await startBrokerProcess(configPath, { REDIS_URL: redisUrl, AIRLOCK_LOG_LEVEL: 'info' })
}, 60_000)

afterAll(async () => {
  await broker?.stop()
  await deletePrefix(redisUrl, prefix)
  await dropAppDatabases(url, app, tag ? [`airlock_${tag}_`] : [])
})

describe('a reload that removes what live sessions depend on', () => {
  it('revokes them (tokens inactive, postgres roles dropped), audited with the reason; the rest stays', async () => {
    const agentGone = await request('temp-bot', {})
    const agentPending = await request('temp-bot', { environment: 'prod', task: { id: 'PENDING' } }, 202)
    const db = await request('build-bot', { provider: 'app-db' })
    const envGone = await request('build-bot', { environment: 'sandbox' })
    const kept = await request('build-bot', { task: { id: 'KEPT' } })
    const creds = db.grant!.credentials as unknown as PgCredentials
    tag = creds.username.split('_')[1] as string
    const conn = await connectAs(creds)
    const cut = ended(conn)
    conn.on('error', () => {})
    expect(await roleExists(url, creds.username)).toBe(true)

    writeFileSync(configPath, reducedConfig())
    await sighup(/config reloaded/)

    const reasons: [Body, string][] = [
      [agentGone, 'agent temp-bot was removed from the config'],
      [agentPending, 'agent temp-bot was removed from the config'],
      [db, 'provider app-db was removed from the config'],
      [envGone, 'environment sandbox was removed from the config'],
    ]
    for (const [s, reason] of reasons) {
      expect(await statusOf(s.session.id)).toBe('revoked')
      if (s.grant) expect(await active(s.grant.token)).toBe(false)
      const revoked = auditEvents().find((e) => e.type === 'session.revoked' && e.session_id === s.session.id)
      expect(revoked).toMatchObject({ actor: 'airlock', details: { reason } })
    }
    expect(await statusOf(kept.session.id)).toBe('active')
    expect(await active(kept.grant!.token)).toBe(true)
    // The removed provider's credentials went through its own revocation: role gone, session cut.
    expect(await roleExists(url, creds.username)).toBe(false)
    await cut
    expect(auditEvents().find((e) => e.type === 'config.reloaded')).toMatchObject({
      details: { removed: { agents: ['temp-bot'], providers: ['app-db'], environments: ['sandbox'] } },
    })
  }, 60_000)

  it('a restart-only setting is refused by name and the old config stays in force', async () => {
    writeFileSync(
      configPath,
      reducedConfig()
        .replace('public_url: "http://airlock.test"', 'public_url: "https://elsewhere.test"')
        .replace('per_agent_per_minute: 100000', 'per_agent_per_minute: 1'),
    )
    const failed = await sighup(/config reload failed/)
    expect(failed).toMatch(
      /"path":"server\.public_url","message":"cannot change while the broker runs; restart/,
    )
    // Nothing of that config applies: not the issuer, not its rate limit.
    for (let i = 0; i < 2; i++) {
      const { grant } = await request('build-bot', { task: { id: `REFUSED-${i}` } })
      const claims = JSON.parse(Buffer.from(grant!.token.split('.')[1] as string, 'base64url').toString())
      expect(claims.iss).toBe('http://airlock.test')
    }
  }, 30_000)
})
