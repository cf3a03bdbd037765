// Who am I and what may I ask for: GET /v1/whoami and GET /v1/entitlements, computed by the same
// policy module that judges real requests, and the approvers who can actually act.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, sessionBody, testBroker, type TestBroker } from '../helper.js'

let t: TestBroker
let api: ReturnType<typeof client>
beforeAll(async () => {
  t = await testBroker()
  api = client(t.app, t.keys)
})
afterAll(async () => t.close())

const FREE = 'bots work freely in staging'
const PROD_READ = 'reading prod needs one engineer'
const DESTROY = 'anything destructive needs two engineers'

describe('GET /v1/entitlements', () => {
  it('lists every environment x class x provider an agent may request, with approvals, max TTL and rules', async () => {
    const r = await api.get('/v1/entitlements', 'build-bot')
    expect(r.status).toBe(200)
    expect(r.body.principal).toEqual({ id: 'build-bot', kind: 'agent', roles: ['agent'] })
    const rows = (r.body.entitlements as Record<string, unknown>[]).map(
      (e) => `${e['environment']}/${e['operation_class']}/${e['provider']}`,
    )
    // build-bot never destroys prod (a deny rule), and nothing allows writing to prod.
    expect(rows.sort()).toEqual(
      [
        'prod/read/internal-api',
        'prod/read/other-api',
        'staging/destructive/internal-api',
        'staging/destructive/other-api',
        'staging/read/internal-api',
        'staging/read/other-api',
        'staging/write/internal-api',
        'staging/write/other-api',
      ].sort(),
    )
    const find = (env: string, cls: string) =>
      (r.body.entitlements as Record<string, unknown>[]).find(
        (e) => e['environment'] === env && e['operation_class'] === cls && e['provider'] === 'internal-api',
      )
    expect(find('staging', 'read')).toEqual({
      environment: 'staging',
      operation_class: 'read',
      provider: 'internal-api',
      approvals_required: 0,
      max_ttl_seconds: 1800,
      rules: [FREE],
      max_ttl_rule: FREE,
      eligible_approvers: ['bob', 'carol'],
    })
    expect(find('prod', 'read')).toMatchObject({
      approvals_required: 1,
      max_ttl_seconds: 3600,
      rules: [PROD_READ],
      max_ttl_rule: null,
    })
    expect(find('staging', 'destructive')).toMatchObject({
      approvals_required: 2,
      max_ttl_seconds: 900,
      rules: [DESTROY],
      eligible_approvers: ['bob', 'carol'],
    })
  })

  it('agrees with what a real request gets', async () => {
    const list = (await api.get('/v1/entitlements', 'other-bot')).body.entitlements as {
      environment: string
      operation_class: string
      provider: string
      approvals_required: number
      max_ttl_seconds: number
    }[]
    const e = list.find(
      (x) => x.environment === 'prod' && x.operation_class === 'read',
    ) as (typeof list)[number]
    const r = await api.post(
      '/v1/sessions',
      'other-bot',
      sessionBody({ environment: e.environment, operation_class: e.operation_class, provider: e.provider }),
    )
    expect(r.status).toBe(202)
    expect(r.body.session.approvals_required).toBe(e.approvals_required)
    expect(r.body.session.ttl_seconds).toBe(Math.min(900, e.max_ttl_seconds))
  })

  it('a human sees their own roles and no entitlements; no credential is a 401', async () => {
    const r = await api.get('/v1/entitlements', 'bob')
    expect(r.body).toEqual({
      principal: { id: 'bob', kind: 'human', roles: ['approver', 'operator'] },
      entitlements: [],
    })
    expect((await api.get('/v1/entitlements', null)).status).toBe(401)
  })

  it('is in the OpenAPI document', async () => {
    const doc = (await api.get('/docs/json', null)).body
    expect(doc.paths['/v1/entitlements'].get.responses['200']).toBeDefined()
    expect(doc.paths['/v1/whoami'].get.responses['200']).toBeDefined()
  })
})

describe('GET /v1/whoami', () => {
  it('names the principal, its kind, roles and owners, and the broker', async () => {
    const agent = await api.get('/v1/whoami', 'build-bot')
    expect(agent.body).toEqual({
      id: 'build-bot',
      kind: 'agent',
      roles: ['agent'],
      owners: ['alice'],
      broker: { version: expect.stringMatching(/^\d+\.\d+\.\d+/), public_url: 'http://airlock.test' },
    })
    expect((await api.get('/v1/whoami', 'internal-api')).body).toMatchObject({
      id: 'internal-api',
      kind: 'resource_server',
      roles: ['resource_server'],
    })
  })
})
