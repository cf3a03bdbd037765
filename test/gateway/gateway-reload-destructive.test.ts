// A reload that marks a class destructive (and lets it DELETE) must not hand that power to the
// sessions granted before it, with fewer than two approvals and no approved action: through the
// gateway, a session of a destructive class sends only the one call two people approved.
import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { client, testBroker, testConfigYaml, type TestBroker } from '../helper.js'
import { envCredential, gatewayProvider, listen } from '../support/gateway.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

const CANARY = `reload-canary-${randomBytes(12).toString('hex')}`
let upstream: Upstream
let tb: TestBroker
let base: string
const sent: string[] = []

const providers = (writeRules: string) =>
  gatewayProvider({
    name: 'ops-api',
    upstream: `${upstream.url}/ops`,
    credential: envCredential('GW_RELOAD_TOKEN', CANARY),
    classes: [`write: { http: [${writeRules}] }`, 'destructive: { http: ["DELETE /**"] }'],
  })

beforeAll(async () => {
  upstream = await startUpstream((s, res) => {
    sent.push(`${s.method} ${s.url}`)
    res.end('ok')
  })
  tb = await testBroker({ yaml: { providers: providers('"GET /**", "POST /**"') } })
  base = `http://127.0.0.1:${await listen(tb)}/gw/ops-api`
}, 30_000)

afterAll(async () => {
  await tb?.close()
  await upstream?.close()
})

describe('a class made destructive by a reload', () => {
  it('refuses the calls of a session granted before, without an approved action', async () => {
    const { grant } = await client(tb.app, tb.keys).issue('build-bot', {
      provider: 'ops-api',
      operation_class: 'write',
    })
    const call = (method: 'GET' | 'DELETE') =>
      request(`${base}/volumes/1`, { method, headers: { authorization: `Bearer ${grant.token}` } })
    expect((await call('GET')).statusCode).toBe(200)

    const yaml = testConfigYaml(tb.prefix, tb.keys, {
      providers: providers('"GET /**", "POST /**", "DELETE /volumes/*"'),
    })
      .replace('{ name: write }', '{ name: write, destructive: true }')
      .replace('operation_classes: [read, write]', 'operation_classes: [read, write]\n    approvals: 2')
    await tb.broker.reload(parseConfig(yaml, { baseDir: '.', env: { REDIS_URL: tb.redisUrl } }))

    sent.length = 0
    const r = await call('DELETE')
    expect(r.statusCode).toBe(403)
    expect(await r.body.json()).toMatchObject({
      error: 'operation_denied',
      message:
        'operation class write is now destructive: a session of it sends only a call two people approved, and this one was granted without one; request a new session with its action',
    })
    expect(sent).toEqual([])
    const refused = tb.audit
      .map((l) => JSON.parse(l) as Record<string, any>)
      .filter((e) => e.type === 'gateway.refused')
    expect(refused.at(-1)?.details).toMatchObject({ method: 'DELETE', refused: 'action', status: 403 })
  })
})
