// The HTTP API of the audit log: GET /v1/audit (newest first, filters) and GET /v1/audit/verify.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ZERO_HASH, type AuditEvent } from '../../src/audit/chain.js'
import { client, testBroker, type TestBroker } from '../helper.js'
import { eventLines, expectChain, expectedHash } from '../support/audit.js'

describe('GET /v1/audit and /v1/audit/verify', () => {
  let t: TestBroker
  let sessionId: string
  let otherId: string
  beforeAll(async () => {
    t = await testBroker()
    const api = client(t.app, t.keys)
    sessionId = (await api.issue('build-bot')).session.id
    expect((await api.del(`/v1/sessions/${sessionId}`, 'build-bot')).body.session.status).toBe('revoked')
    otherId = (await api.issue('other-bot')).session.id
  })
  afterAll(async () => t.close())

  const get = (url: string, who: 'ops' | 'alice' | 'bob' | null = 'ops') =>
    t.app.inject({ method: 'GET', url, headers: who ? t.as(who) : {} })

  it('returns events newest first with the documented fields', async () => {
    const r = await get('/v1/audit')
    expect(r.statusCode, r.body).toBe(200)
    const list = r.json().events as AuditEvent[]
    const fields = ['actor', 'at', 'chain', 'details', 'hash', 'prev_hash', 'seq', 'session_id', 'type']
    for (const e of list) {
      expect(Object.keys(e).sort()).toEqual(fields)
      expect(e.chain).toBe(t.broker.chain)
      expect(e.at).toBe(new Date(e.at).toISOString())
      expect(e.hash).toBe(expectedHash(e))
    }
    expect(list.map((e) => e.seq)).toEqual([...list.map((e) => e.seq)].sort((a, b) => b - a))
    const chain = [...list].reverse()
    expectChain(chain)
    // A request granted at once is one event (session.issued carries the request and decision).
    expect(chain.map((e) => e.type)).toEqual([
      'broker.started',
      'session.issued',
      'session.revoked',
      'session.issued',
    ])
    expect(chain[1]?.details).toMatchObject({
      decision: expect.stringMatching(/^allowed by/),
      approvals_required: 0,
    })
    expect(chain[0]).toMatchObject({ actor: 'airlock', session_id: null, prev_hash: ZERO_HASH })
    expect(chain[2]).toMatchObject({
      actor: 'build-bot',
      session_id: sessionId,
      details: { agent: 'build-bot', from: 'active' },
    })
    // The stdout copy holds the same events.
    expect(eventLines(t.audit)).toEqual(chain)

    const one = await get('/v1/audit?limit=1')
    expect((one.json().events as AuditEvent[]).map((e) => e.seq)).toEqual([list[0]?.seq])
    const future = await get(`/v1/audit?since=${encodeURIComponent('2999-01-01T00:00:00Z')}`)
    expect(future.json()).toEqual({ events: [] })
  })

  it('filters by session_id and agent', async () => {
    const bySession = (await get(`/v1/audit?session_id=${sessionId}`)).json().events as AuditEvent[]
    expect(bySession.map((e) => e.type)).toEqual(['session.revoked', 'session.issued'])
    expect(bySession.every((e) => e.session_id === sessionId)).toBe(true)

    const byAgent = (await get('/v1/audit?agent=other-bot')).json().events as AuditEvent[]
    expect(byAgent.map((e) => e.type)).toEqual(['session.issued'])
    expect(byAgent.every((e) => e.session_id === otherId)).toBe(true)

    const build = (await get('/v1/audit?agent=build-bot')).json().events as AuditEvent[]
    expect(build.map((e) => e.session_id)).toEqual([sessionId, sessionId])

    expect((await get('/v1/audit?agent=nobody')).json()).toEqual({ events: [] })
    expect((await get('/v1/audit?session_id=ses_doesnotexist000000000')).json()).toEqual({ events: [] })
  })

  it('verifies the log', async () => {
    const r = await get('/v1/audit/verify')
    expect(r.statusCode, r.body).toBe(200)
    expect(r.json()).toEqual({
      ok: true,
      events: 4,
      chains: [{ chain: t.broker.chain, first: 1, last: 4 }],
      problems: [],
    })
    expect((await get('/v1/audit/verify', 'bob')).statusCode).toBe(200) // bob is an operator too
  })

  it('is for operators only', async () => {
    for (const url of ['/v1/audit', '/v1/audit/verify']) {
      const alice = await get(url, 'alice')
      expect(alice.statusCode).toBe(403)
      expect(alice.json()).toMatchObject({ error: 'forbidden' })
      const agent = await t.app.inject({ method: 'GET', url, headers: t.as('build-bot') })
      expect(agent.statusCode).toBe(403)
      const anon = await get(url, null)
      expect(anon.statusCode).toBe(401)
      expect(anon.json()).toMatchObject({ error: 'unauthenticated' })
      const bad = await t.app.inject({ method: 'GET', url, headers: { authorization: 'Bearer ak_nope' } })
      expect(bad.statusCode).toBe(401)
    }
  })

  it('rejects a malformed query with 400', async () => {
    const r = await get('/v1/audit?limit=abc')
    expect(r.statusCode).toBe(400)
    expect(r.json()).toMatchObject({ error: 'invalid_request' })
    // Out of range is refused like the sessions list's limit, not quietly clamped.
    for (const limit of ['0', '1001', '2.5'])
      expect((await get(`/v1/audit?limit=${limit}`)).statusCode).toBe(400)
    expect((await get('/v1/audit?bogus=1')).statusCode).toBe(400)
  })
})
