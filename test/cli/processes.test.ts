// Two real `airlock serve` processes sharing one Redis: revocation and locks are immediate on
// both; SIGHUP reloads a valid config and keeps the old one when the new one is broken.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest'
import { deletePrefix, newKeys, sessionBody, testConfigYaml } from '../helper.js'
import {
  startBrokerProcess,
  tempDir,
  writeSigningKey,
  callApi,
  freePort,
  type BrokerProcess,
} from '../support/broker-process.js'

const redisUrl = inject('redisUrl')
const prefix = `airlock-test:${Date.now().toString(36)}p:`
const keys = newKeys()
const dir = tempDir()
const signing = writeSigningKey(dir)
let a: BrokerProcess
let b: BrokerProcess
let configB: string

const configFor = async (port: number) => {
  const yaml = testConfigYaml(prefix, keys, { port, signingKeyPath: signing.path })
  const path = join(dir, `airlock-${port}.yaml`)
  writeFileSync(path, yaml)
  return path
}

const call = (p: BrokerProcess, method: string, path: string, who: keyof typeof keys, body?: unknown) =>
  callApi(p.url, method, path, keys[who], body)

beforeAll(async () => {
  const env = { REDIS_URL: redisUrl, AIRLOCK_LOG_LEVEL: 'info' }
  a = await startBrokerProcess(await configFor(await freePort()), env)
  configB = await configFor(await freePort())
  b = await startBrokerProcess(configB, env)
}, 60_000)

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()])
  await deletePrefix(redisUrl, prefix)
})

describe('two broker processes on one Redis', () => {
  it('a token issued by one is active on the other, and inactive on both the moment either revokes it', async () => {
    const issued = await call(a, 'POST', '/v1/sessions', 'build-bot', sessionBody())
    expect(issued.status).toBe(201)
    const token = issued.body.grant.token as string
    expect((await call(b, 'POST', '/v1/introspect', 'internal-api', { token })).body.active).toBe(true)
    expect(
      (await call(b, 'DELETE', `/v1/sessions/${issued.body.session.id}`, 'ops')).body.session.status,
    ).toBe('revoked')
    expect((await call(a, 'POST', '/v1/introspect', 'internal-api', { token })).body).toEqual({
      active: false,
    })
    expect((await call(b, 'POST', '/v1/introspect', 'internal-api', { token })).body).toEqual({
      active: false,
    })
  })

  it('a lock created on one replica holds on the other at once', async () => {
    const live = await call(a, 'POST', '/v1/sessions', 'other-bot', sessionBody())
    const lock = await call(b, 'POST', '/v1/locks', 'ops', { agent: 'other-bot', reason: 'replica test' })
    expect(lock.status).toBe(201)
    expect((await call(a, 'POST', '/v1/introspect', 'ops', { token: live.body.grant.token })).body).toEqual({
      active: false,
    })
    expect((await call(a, 'POST', '/v1/sessions', 'other-bot', sessionBody())).status).toBe(403)
    await call(a, 'DELETE', `/v1/locks/${lock.body.lock.id}`, 'ops')
    expect((await call(b, 'POST', '/v1/sessions', 'other-bot', sessionBody())).status).toBe(201)
  })

  it('both publish the same signing key and each writes its own audit chain', async () => {
    const [ja, jb] = await Promise.all(
      [a, b].map(async (p) => (await fetch(`${p.url}/.well-known/jwks.json`)).json()),
    )
    expect(ja).toEqual(jb)
    const audit = await call(a, 'GET', '/v1/audit?limit=1000', 'ops')
    expect(new Set(audit.body.events.map((e: { chain: string }) => e.chain)).size).toBe(2)
    expect((await call(b, 'GET', '/v1/audit/verify', 'ops')).body).toMatchObject({ ok: true, problems: [] })
  })

  it('SIGHUP reloads a valid config (an agent removed without a redeploy) and keeps the old one on error', async () => {
    const original = readFileSync(configB, 'utf8')
    const withoutOther = original.replace(/\n {2}- \{ id: other-bot.*\n/, '\n')
    expect(withoutOther).not.toContain('id: other-bot')
    writeFileSync(configB, withoutOther)
    let mark = b.stderr.length
    b.child.kill('SIGHUP')
    await b.waitForLine(/config reloaded/, mark)
    expect((await call(b, 'POST', '/v1/sessions', 'other-bot', sessionBody())).status).toBe(401)
    expect((await call(a, 'POST', '/v1/sessions', 'other-bot', sessionBody())).status).toBe(201)

    writeFileSync(configB, withoutOther.replace('approvals: 2', 'approvals: 1'))
    mark = b.stderr.length
    b.child.kill('SIGHUP')
    const failed = await b.waitForLine(/config reload failed/, mark)
    expect(failed).toMatch(/destructive class 'destructive' needs at least 2 approvals/)
    expect((await call(b, 'POST', '/v1/sessions', 'other-bot', sessionBody())).status).toBe(401)
    expect((await call(b, 'POST', '/v1/sessions', 'build-bot', sessionBody())).status).toBe(201)
  })

  it('no API key or signing key material appears in either process output', async () => {
    const out = [...a.stdout, ...a.stderr, ...b.stdout, ...b.stderr].join('\n')
    expect(out.length).toBeGreaterThan(0)
    for (const k of Object.values(keys)) expect(out).not.toContain(k)
    const pemBody = signing.pem
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .join('')
    expect(out).not.toContain(pemBody)
  })

  it('SIGTERM drains and exits 0', async () => {
    expect(await b.stop()).toBe(0)
  })
})
