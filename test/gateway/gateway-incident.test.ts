// The incident Airlock exists for, replayed: an agent on a staging task holds a session for a
// Railway-shaped GraphQL API whose only token is account-wide. Two real broker processes share one
// Redis; the upstream is a real GraphQL server with its own bearer token (a canary searched for in
// every response, log line and audit event).
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest'
import { deletePrefix, newKeys, testConfigYaml } from '../helper.js'
import {
  callApi,
  freePort,
  startBrokerProcess,
  tempDir,
  writeSigningKey,
  type BrokerProcess,
} from '../support/broker-process.js'
import { fakeRailway, railwayProviderYaml, type FakeRailway } from '../support/fake-railway.js'

const CANARY = `railway-canary-${randomBytes(16).toString('hex')}`
const redisUrl = inject('redisUrl')
const prefix = `airlock-test:${Date.now().toString(36)}gw:`
const keys = newKeys()
const dir = tempDir()
const signing = writeSigningKey(dir)
const seen: string[] = []
let railway: FakeRailway
let a: BrokerProcess
let b: BrokerProcess

beforeAll(async () => {
  railway = await fakeRailway(CANARY)
  const start = async () => {
    const port = await freePort()
    const path = join(dir, `airlock-${port}.yaml`)
    writeFileSync(
      path,
      testConfigYaml(prefix, keys, {
        port,
        signingKeyPath: signing.path,
        providers: railwayProviderYaml(railway.url, 'env:RAILWAY_TOKEN'),
      }),
    )
    return startBrokerProcess(path, { REDIS_URL: redisUrl, RAILWAY_TOKEN: CANARY, AIRLOCK_LOG_LEVEL: 'info' })
  }
  ;[a, b] = await Promise.all([start(), start()])
}, 90_000)

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()])
  await railway?.close()
  await deletePrefix(redisUrl, prefix)
})

const api = (p: BrokerProcess, method: string, path: string, who: keyof typeof keys, body?: unknown) =>
  callApi(p.url, method, path, keys[who], body, (text, headers) =>
    seen.push(text, JSON.stringify([...headers])),
  )

/** A call through the gateway as the agent would make it, with the grant's token. */
const gw = async (p: BrokerProcess, token: string, body: unknown, path = '') => {
  const r = await fetch(`${p.url}/gw/railway${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await r.text()
  seen.push(text, JSON.stringify([...r.headers]))
  return { status: r.status, body: JSON.parse(text) as any }
}

const request = (
  p: BrokerProcess,
  who: 'build-bot' | 'other-bot',
  environment: string,
  operation_class: string,
  action?: unknown,
) =>
  api(p, 'POST', '/v1/sessions', who, {
    environment,
    operation_class,
    provider: 'railway',
    task: { id: 'INC-2026-04', description: 'tidy staging variables' },
    ...(action !== undefined && { action }),
  })

const deleted = () => railway.calls.filter((c) => c.field.endsWith('Delete'))
const DELETE_PROD = {
  query: 'mutation DeleteVolume($id: String!) { volumeDelete(volumeId: $id) }',
  variables: { id: 'vol-prod-1' },
  operationName: 'DeleteVolume',
}

describe('the incident, replayed through the gateway', () => {
  let staging: { id: string; token: string }

  it('a staging write session: the grant holds the gateway URL and a session token, not the Railway token', async () => {
    const r = await request(a, 'build-bot', 'staging', 'write')
    expect(r.status).toBe(201)
    expect(r.body.grant.credentials).toEqual({
      url: 'http://airlock.test/gw/railway',
      token: r.body.grant.token,
    })
    expect(r.body.session.action).toBeNull()
    staging = { id: r.body.session.id, token: r.body.grant.token }
  })

  it('queries work, and variableUpsert in staging works', async () => {
    const q = await gw(a, staging.token, {
      query: '{ me { email } volumes(environmentId: "env-staging-1") { id } }',
    })
    expect(q.status).toBe(200)
    expect(q.body.data.volumes).toEqual([{ id: 'vol-staging-1' }])
    const m = await gw(b, staging.token, {
      query: 'mutation($i: VariableUpsertInput!) { variableUpsert(input: $i) }',
      variables: { i: { projectId: 'p1', environmentId: 'env-staging-1', name: 'CACHE_TTL', value: '60' } },
    })
    expect(m.status).toBe(200)
    expect(m.body).toEqual({ data: { variableUpsert: true } })
    expect(railway.calls.map((c) => c.field)).toEqual(['me', 'volumes', 'variableUpsert'])
  })

  it('volumeDelete of the prod and of the staging volume is refused and never reaches Railway', async () => {
    for (const id of ['vol-prod-1', 'vol-staging-1']) {
      const r = await gw(a, staging.token, { query: `mutation { volumeDelete(volumeId: "${id}") }` })
      expect(r.status).toBe(403)
      expect(r.body).toMatchObject({
        error: 'operation_denied',
        message: 'mutation volumeDelete is not allowed for write on railway (it needs destructive)',
      })
    }
    expect(deleted()).toEqual([])
    expect(railway.volumes.has('vol-prod-1')).toBe(true)
  })

  it.each([
    ['an alias', { query: 'mutation { upsert: volumeDelete(volumeId: "vol-prod-1") }' }],
    [
      'a fragment',
      { query: 'mutation { ...X } fragment X on Mutation { volumeDelete(volumeId: "vol-prod-1") }' },
    ],
    [
      'a second operation',
      {
        query: 'query Ok { me { id } } mutation Bad { volumeDelete(volumeId: "vol-prod-1") }',
        operationName: 'Ok',
      },
    ],
    ['a batch', [{ query: '{ me { id } }' }, { query: 'mutation { volumeDelete(volumeId: "vol-prod-1") }' }]],
    [
      'a variable holding the prod volume id',
      {
        query: 'query($v: String!) { volumes(environmentId: $v) { id } }',
        variables: { v: 'env-prod-1' },
      },
    ],
  ])('the same hidden behind %s is refused and Railway never sees it', async (_how, body) => {
    const before = railway.calls.length
    const r = await gw(b, staging.token, body)
    expect(r.status).toBe(403)
    expect(r.body.error).toBe('operation_denied')
    expect(railway.calls.length).toBe(before)
  })

  it.each([
    [
      'a query string beside a harmless body',
      { query: '{ me { id } }' },
      `?query=${encodeURIComponent('mutation { volumeDelete(volumeId: "vol-prod-1") }')}`,
    ],
    [
      'a body that gives query twice',
      `{"query":"mutation { volumeDelete(volumeId: \\"vol-prod-1\\") }","query":"{ me { id } }"}`,
      '',
    ],
  ])(
    'the same sent in %s (servers differ on which they run) is 400 and Railway never sees it',
    async (_how, body, path) => {
      const before = railway.calls.length
      const r = await gw(b, staging.token, body, path)
      expect(r.status).toBe(400)
      expect(r.body.error).toBe('invalid_request')
      expect(railway.calls.length).toBe(before)
    },
  )

  it('a prod destructive request without an action is 400', async () => {
    const r = await request(a, 'other-bot', 'prod', 'destructive')
    expect(r.status).toBe(400)
    expect(r.body.message).toMatch(/add action/)
  })

  it('an action the class would not allow is refused at request time', async () => {
    const r = await request(a, 'other-bot', 'prod', 'destructive', {
      method: 'POST',
      path: '/',
      body: { query: 'mutation { volumeDelete(volumeId: "vol-staging-1") }' },
    })
    expect(r.status).toBe(400)
    expect(r.body.message).toMatch(/volumeId vol-staging-1 is outside prod/)
  })

  it('with the action and two approvals it runs exactly once; another volume id and a second run are refused', async () => {
    const r = await request(a, 'other-bot', 'prod', 'destructive', {
      method: 'POST',
      path: '/',
      body: DELETE_PROD,
    })
    expect(r.status).toBe(202)
    const id = r.body.session.id as string
    // Approvers read the exact call they approve.
    expect((await api(b, 'GET', `/v1/sessions/${id}`, 'alice')).body.action).toEqual({
      method: 'POST',
      path: '/',
      body: DELETE_PROD,
    })
    expect(
      (await api(a, 'POST', `/v1/sessions/${id}/approvals`, 'alice', { decision: 'approve' })).status,
    ).toBe(200)
    expect(
      (await api(b, 'POST', `/v1/sessions/${id}/approvals`, 'carol', { decision: 'approve' })).status,
    ).toBe(200)
    const claim = await api(a, 'POST', `/v1/sessions/${id}/grant`, 'other-bot')
    expect(claim.status).toBe(200)
    const token = claim.body.grant.token as string

    const other = await gw(b, token, { ...DELETE_PROD, variables: { id: 'vol-staging-1' } })
    expect(other.status).toBe(403)
    expect(deleted()).toEqual([])
    // The approved call, with other key order and whitespace: same canonical form.
    const ok = await gw(
      a,
      token,
      `{"operationName":"DeleteVolume","variables":{"id":"vol-prod-1"},"query":"mutation DeleteVolume($id: String!) {\\n  volumeDelete(volumeId: $id)\\n}"}`,
    )
    expect(ok.status).toBe(200)
    expect(ok.body).toEqual({ data: { volumeDelete: true } })
    const again = await gw(b, token, DELETE_PROD)
    expect(again.status).toBe(403)
    expect(again.body.message).toMatch(/already used/)
    expect(deleted()).toEqual([{ field: 'volumeDelete', args: { volumeId: 'vol-prod-1' } }])
  })

  it('two replicas racing the same approved call: exactly one forwards it', async () => {
    const action = {
      method: 'POST',
      path: '',
      body: { query: 'mutation { volumeDelete(volumeId: "vol-staging-1") }' },
    }
    const r = await request(b, 'other-bot', 'staging', 'destructive', action)
    const id = r.body.session.id as string
    await api(a, 'POST', `/v1/sessions/${id}/approvals`, 'alice', { decision: 'approve' })
    await api(a, 'POST', `/v1/sessions/${id}/approvals`, 'carol', { decision: 'approve' })
    const token = (await api(b, 'POST', `/v1/sessions/${id}/grant`, 'other-bot')).body.grant.token as string
    const results = await Promise.all([a, b, a, b].map((p) => gw(p, token, action.body)))
    expect(results.map((x) => x.status).sort()).toEqual([200, 403, 403, 403])
    expect(deleted().filter((c) => c.args['volumeId'] === 'vol-staging-1')).toHaveLength(1)
  })

  it('after a revoke the next call is 401 on both replicas', async () => {
    expect((await gw(b, staging.token, { query: '{ me { id } }' })).status).toBe(200)
    expect((await api(a, 'DELETE', `/v1/sessions/${staging.id}`, 'ops')).body.session.status).toBe('revoked')
    expect((await gw(a, staging.token, { query: '{ me { id } }' })).status).toBe(401)
    expect((await gw(b, staging.token, { query: '{ me { id } }' })).status).toBe(401)
  })

  it('every call is audited (refusals naming the field), and the Railway token is in no response, log line or audit event', async () => {
    const audit = await api(a, 'GET', `/v1/audit?session_id=${staging.id}&limit=1000`, 'ops')
    const types = audit.body.events.map((e: { type: string }) => e.type)
    expect(types.filter((t: string) => t === 'gateway.forwarded').length).toBeGreaterThanOrEqual(3)
    const refusal = audit.body.events.find(
      (e: any) => e.type === 'gateway.refused' && e.details.refused === 'volumeDelete',
    )
    expect(refusal.details).toMatchObject({ method: 'POST', path: '/', status: 403, environment: 'staging' })
    expect(JSON.stringify(audit.body)).not.toContain('CACHE_TTL')
    const all = [...seen, ...a.stdout, ...a.stderr, ...b.stdout, ...b.stderr]
    expect(all.some((l) => l.includes('gateway.forwarded'))).toBe(true)
    for (const line of all) expect(line).not.toContain(CANARY)
    expect(railway.unauthorized).toBe(0)
  })
})
