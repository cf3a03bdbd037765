// A reload that marks a class destructive (and lets it DELETE) must not hand that power to the
// sessions granted before it, with fewer than two approvals and no approved action: the reload
// revokes them, and a replica whose config is newer than them (not reloaded everywhere yet, or
// its revocations still retried) sends through the gateway only the one call two people approved.
import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { client, replicaWith, testBroker, testConfigYaml, type TestBroker } from '../helper.js'
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
  }) +
  gatewayProvider({
    name: 'prod-api',
    upstream: `${upstream.url}/prod`,
    credential: envCredential('GW_RELOAD_TOKEN', CANARY),
    environment: 'prod',
    classes: ['read: { http: ["GET /**"] }'],
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
  it('revokes a session granted before, without an approved action; a newer replica refuses its calls', async () => {
    const { session, grant } = await client(tb.app, tb.keys).issue('build-bot', {
      provider: 'ops-api',
      operation_class: 'write',
    })
    const call = (at: string, method: 'GET' | 'DELETE') =>
      request(`${at}/volumes/1`, { method, headers: { authorization: `Bearer ${grant.token}` } })
    expect((await call(base, 'GET')).statusCode).toBe(200)

    const destructive = (y: string) =>
      y
        .replace('{ name: write }', '{ name: write, destructive: true }')
        .replace('operation_classes: [read, write]', 'operation_classes: [read, write]\n    approvals: 2')
    const yaml = { providers: providers('"GET /**", "POST /**", "DELETE /volumes/*"') }
    const replica = await replicaWith(tb, destructive, { yaml })
    try {
      sent.length = 0
      const r = await call(`http://127.0.0.1:${await listen(replica)}/gw/ops-api`, 'DELETE')
      expect(r.statusCode).toBe(403)
      expect(await r.body.json()).toMatchObject({
        error: 'operation_denied',
        message:
          'operation class write is now destructive: a session of it sends only a call two people approved, and this one was granted without one; request a new session with its action',
      })
      expect(sent).toEqual([])
      const refused = replica.audit
        .map((l) => JSON.parse(l) as Record<string, any>)
        .filter((e) => e.type === 'gateway.refused')
      expect(refused.at(-1)?.details).toMatchObject({ method: 'DELETE', refused: 'action', status: 403 })
    } finally {
      await replica.close()
    }

    const next = destructive(testConfigYaml(tb.prefix, tb.keys, yaml))
    await tb.broker.reload(parseConfig(next, { baseDir: '.', env: { REDIS_URL: tb.redisUrl } }))
    expect((await call(base, 'GET')).statusCode).toBe(401)
    const revoked = tb.audit
      .map((l) => JSON.parse(l) as Record<string, any>)
      .find((e) => e.type === 'session.revoked' && e.session_id === session.id)
    expect(revoked?.details.reason).toBe(
      'operation class write now needs 2 approvals (it is destructive); this session had 0',
    )
  })

  it('a request waiting for approval, or approved, without the action the class now needs: revoked, and neither approved nor claimed on a newer replica', async () => {
    const api = client(tb.app, tb.keys)
    const ask = async (task: string) => {
      const r = await api.post('/v1/sessions', 'other-bot', {
        environment: 'prod',
        operation_class: 'read',
        provider: 'prod-api',
        task: { id: task },
      })
      expect(r.body.session).toMatchObject({ status: 'pending_approval', approvals_required: 1 })
      return r.body.session.id as string
    }
    const waiting = await ask('WAIT-1')
    const approved = await ask('WAIT-2')
    const later = await ask('WAIT-3')
    expect(
      (await api.post(`/v1/sessions/${approved}/approvals`, 'alice', { decision: 'approve' })).body.session
        .status,
    ).toBe('approved')

    const destructive = (y: string) =>
      y
        .replace('{ name: read }', '{ name: read, destructive: true }')
        .replace('operation_classes: [read, write]', 'operation_classes: [write]')
        .replace(
          'operation_classes: [read]\n    providers: ["*"]\n    approvals: 1',
          'operation_classes: [read]\n    providers: ["*"]\n    approvals: 2',
        )
    const yaml = { providers: providers('"GET /**", "POST /**"') }
    const replica = await replicaWith(tb, destructive, { yaml })
    try {
      const on = client(replica.app, replica.keys)
      const why =
        'operation class read is now destructive, and prod-api approves it one call at a time: this request names no action; request it again with its action'
      const a = await on.post(`/v1/sessions/${waiting}/approvals`, 'alice', { decision: 'approve' })
      expect(a.status).toBe(403)
      expect(a.body.message).toBe(
        `the policy no longer allows this request (${why}), so it cannot be approved; deny it or let it expire`,
      )
      const d = await on.post(`/v1/sessions/${waiting}/approvals`, 'carol', { decision: 'deny' })
      expect(d.body.session).toMatchObject({ status: 'denied', denied_by: 'carol' })

      const c = await on.post(`/v1/sessions/${approved}/grant`, 'other-bot')
      expect(c.status).toBe(403)
      expect(c.body).toMatchObject({
        error: 'policy_denied',
        message: `the policy no longer allows this grant: ${why}`,
      })
    } finally {
      await replica.close()
    }

    const next = destructive(testConfigYaml(tb.prefix, tb.keys, yaml))
    await tb.broker.reload(parseConfig(next, { baseDir: '.', env: { REDIS_URL: tb.redisUrl } }))
    const reasons = new Map(
      tb.audit
        .map((l) => JSON.parse(l) as Record<string, any>)
        .filter((e) => e.type === 'session.revoked')
        .map((e) => [e.session_id as string, e.details.reason as string]),
    )
    expect(reasons.get(approved)).toBe(
      'operation class read now needs 2 approvals (it is destructive); this session had 1',
    )
    expect(reasons.get(later)).toBe(
      'operation class read is now destructive, and prod-api approves it one call at a time; this session names no action',
    )
    expect(reasons.has(waiting)).toBe(false)
  })
})
