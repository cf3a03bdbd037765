// The session routes end to end against a real Redis: every bad input's exact status and code,
// the lifecycle, listing, bulk revocation and locks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, sessionBody, testBroker, type TestBroker } from '../helper.js'
import { generateSigningKey } from '../../src/tokens/keys.js'
import { Redis } from 'ioredis'
import { redisKeys } from '../../src/store/keys.js'
import { profileOf } from '../../src/store/record-codec.js'
import { arrives } from '../support/bounded.js'
import { makeRec } from '../support/records.js'

let t: TestBroker
let api: ReturnType<typeof client>
beforeAll(async () => {
  t = await testBroker()
  api = client(t.app, t.keys)
})
afterAll(async () => t.close())

const raw = (payload: string, headers: Record<string, string> = {}) =>
  t.app.inject({
    method: 'POST',
    url: '/v1/sessions',
    headers: { 'content-type': 'application/json', ...t.as('build-bot'), ...headers },
    payload,
  })

describe('POST /v1/sessions: bad input gets the exact status and code', () => {
  const cases: [string, Record<string, unknown>, number, string, RegExp?][] = [
    ['ttl as a string', { ttl_seconds: '900' }, 400, 'invalid_request', /ttl_seconds/],
    ['environment as a number', { environment: 7 }, 400, 'invalid_request', /environment/],
    ['unknown environment', { environment: 'qa' }, 400, 'invalid_request', /unknown environment 'qa'/],
    [
      'unknown class',
      { operation_class: 'admin' },
      400,
      'invalid_request',
      /unknown operation class 'admin'/,
    ],
    ['unknown provider', { provider: 'nope' }, 400, 'invalid_request', /unknown provider 'nope'/],
    ['missing task id', { task: { description: 'x' } }, 400, 'invalid_request', /id/],
    ['missing task', { task: undefined }, 400, 'invalid_request', /task/],
    ['task id with a space', { task: { id: 'JIRA 1' } }, 400, 'invalid_request', /task\/id/],
    ['task id of 129 chars', { task: { id: 'a'.repeat(129) } }, 400, 'invalid_request', /task\/id/],
    [
      'description of 501 chars',
      { task: { id: 'T-1', description: 'd'.repeat(501) } },
      400,
      'invalid_request',
    ],
    [
      'justification of 1001 chars',
      { justification: 'j'.repeat(1001) },
      400,
      'invalid_request',
      /justification/,
    ],
    [
      'unknown field',
      { role_arn: 'arn:aws:iam::1:role/x' },
      400,
      'invalid_request',
      /unknown field 'role_arn'/,
    ],
    ['ttl of zero', { ttl_seconds: 0 }, 400, 'invalid_request', /ttl_seconds/],
    [
      'a mistyped field',
      { ttl: 900 },
      400,
      'invalid_request',
      /^unknown field 'ttl' \(did you mean ttl_seconds\?\)$/,
    ],
    [
      'a mistyped nested field',
      { task: { id: 'T-1', descripton: 'x' } },
      400,
      'invalid_request',
      /^unknown field 'task.descripton' \(did you mean task.description\?\)$/,
    ],
    [
      'a missing field',
      { environment: undefined },
      400,
      'invalid_request',
      /^the body is missing the required field 'environment'$/,
    ],
    [
      'ttl above tokens.max_ttl (the schema ceiling is the config, not 24h)',
      { ttl_seconds: 7200 },
      400,
      'invalid_request',
      /^body\/ttl_seconds is above this broker's tokens.max_ttl of 3600 seconds; ask for 3600 or less$/,
    ],
    [
      'a mistyped environment',
      { environment: 'stagign' },
      400,
      'invalid_request',
      /^unknown environment 'stagign' \(did you mean staging\?\); configured: staging, prod$/,
    ],
    [
      'an unknown class',
      { operation_class: 'delete' },
      400,
      'invalid_request',
      /^unknown operation class 'delete'; configured: read, write, destructive$/,
    ],
    [
      'a mistyped provider',
      { provider: 'internal_api' },
      400,
      'invalid_request',
      /^unknown provider 'internal_api' \(did you mean internal-api\?\); configured: internal-api, other-api/,
    ],
    ['on_behalf_of unknown', { on_behalf_of: 'mallory' }, 400, 'invalid_request', /not a configured human/],
    [
      'policy: no rule',
      { environment: 'prod', operation_class: 'write' },
      403,
      'policy_denied',
      /no rule lets build-bot use write on prod with internal-api/,
    ],
    [
      'policy: deny wins',
      { environment: 'prod', operation_class: 'destructive' },
      403,
      'policy_denied',
      /denied by policy "build-bot never destroys prod"/,
    ],
  ]
  it.each(cases)('%s', async (_name, over, status, code, message) => {
    const r = await api.post('/v1/sessions', 'build-bot', sessionBody(over))
    expect(r.status).toBe(status)
    expect(r.body.error).toBe(code)
    expect(typeof r.body.request_id).toBe('string')
    if (message) expect(r.body.message).toMatch(message)
  })

  it('malformed JSON is 400 invalid_request', async () => {
    const r = await raw('{"environment": "staging",')
    expect(r.statusCode).toBe(400)
    expect(r.json()).toMatchObject({ error: 'invalid_request' })
  })

  it('a body over the limit is 413 payload_too_large', async () => {
    const r = await raw(JSON.stringify(sessionBody({ justification: 'x'.repeat(20_000) })))
    expect(r.statusCode).toBe(413)
    expect(r.json()).toMatchObject({ error: 'payload_too_large' })
  })

  it.each([
    ['a type without a parser', 'application/xml', '<session/>'],
    ['text', 'text/plain', 'environment=staging'],
    ['a form', 'application/x-www-form-urlencoded', 'environment=staging'],
  ])('%s is 415 unsupported_media_type, saying to send JSON', async (_n, type, body) => {
    const r = await raw(body, { 'content-type': type })
    expect(r.statusCode).toBe(415)
    expect(r.json()).toEqual({
      error: 'unsupported_media_type',
      message: expect.stringMatching(/send the body as JSON with the header Content-Type: application\/json/),
      request_id: expect.any(String),
    })
  })

  it.each([
    ['no bearer', {}],
    ['unknown key', { authorization: 'Bearer ak_nobody_xxxxxxxxxxxxxxxx' }],
    ['basic auth', { authorization: 'Basic YWxpY2U6cHc=' }],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['malformed jwt bearer', { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' }],
  ])('%s is 401 unauthenticated', async (_n, headers) => {
    const r = await t.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: sessionBody() })
    expect(r.statusCode).toBe(401)
    expect(r.json()).toMatchObject({ error: 'unauthenticated' })
  })

  it.each(['alice', 'ops', 'internal-api'])('%s (not an agent) gets 403 forbidden', async (who) => {
    const r = await api.post('/v1/sessions', who, sessionBody())
    expect(r.status).toBe(403)
    expect(r.body.error).toBe('forbidden')
  })

  it('too few eligible approvers is refused at once', async () => {
    // other-bot is owned by bob; on behalf of alice leaves only carol of [alice, bob, carol].
    const r = await api.post(
      '/v1/sessions',
      'other-bot',
      sessionBody({ operation_class: 'destructive', on_behalf_of: 'alice' }),
    )
    expect(r.status).toBe(403)
    expect(r.body).toMatchObject({ error: 'policy_denied' })
    expect(r.body.message).toMatch(/needs 2 approvals but only 1 eligible/)
  })
})

describe('session lifecycle', () => {
  it('a request needing no approval is 201 active with a grant, ttl clamped to the rule', async () => {
    const r = await api.post(
      '/v1/sessions',
      'build-bot',
      sessionBody({ ttl_seconds: 3000, justification: 'cache' }),
    )
    expect(r.status).toBe(201)
    expect(r.body.ttl_clamped).toEqual({
      requested_seconds: 3000,
      ttl_seconds: 1800,
      rule: 'bots work freely in staging',
    })
    expect(r.body.session).toMatchObject({
      status: 'active',
      agent: 'build-bot',
      environment: 'staging',
      operation_class: 'read',
      provider: 'internal-api',
      ttl_seconds: 1800,
      approvals_required: 0,
      approvals: [],
      task: { id: 'JIRA-123', description: 'rotate staging cache' },
    })
    expect(r.body.grant).toMatchObject({ token_type: 'Bearer', credentials: {} })
    expect(Date.parse(r.body.grant.expires_at) - Date.parse(r.body.session.created_at)).toBeLessThanOrEqual(
      1800_000,
    )
    expect(r.body.grant.expires_at).toBe(r.body.session.expires_at)
  })

  it('a request needing approval is 202 pending_approval, with no grant', async () => {
    const r = await api.post('/v1/sessions', 'other-bot', sessionBody({ environment: 'prod' }))
    expect(r.status).toBe(202)
    expect(r.body.grant).toBeUndefined()
    expect(r.body.session).toMatchObject({ status: 'pending_approval', approvals_required: 1 })
  })

  it('a destructive class always needs two approvals', async () => {
    const r = await api.post('/v1/sessions', 'other-bot', sessionBody({ operation_class: 'destructive' }))
    expect(r.status).toBe(202)
    expect(r.body.session.approvals_required).toBe(2)
  })

  it('an agent reads its own session; another agent gets 404; an approver may read; a resource server may not', async () => {
    const { session } = await api.issue('build-bot')
    expect((await api.get(`/v1/sessions/${session.id}`, 'build-bot')).body).toMatchObject({ id: session.id })
    const other = await api.get(`/v1/sessions/${session.id}`, 'other-bot')
    expect(other.status).toBe(404)
    expect(other.body.error).toBe('not_found')
    expect((await api.get(`/v1/sessions/${session.id}`, 'alice')).status).toBe(200)
    expect((await api.get(`/v1/sessions/${session.id}`, 'internal-api')).body.error).toBe('forbidden')
  })

  it.each([
    ['/v1/sessions/ses_doesnotexist00000000000', 404, 'not_found'],
    ['/v1/sessions/ses%20x', 400, 'invalid_request'],
    ['/v1/sessions/ses_x?wait=61', 400, 'invalid_request'],
    ['/v1/sessions/ses_x?wait=abc', 400, 'invalid_request'],
    ['/v1/sessions/ses_x?wait=-1', 400, 'invalid_request'],
    ['/v1/sessions?limit=0', 400, 'invalid_request'],
    ['/v1/sessions?limit=501', 400, 'invalid_request'],
    ['/v1/sessions/ses_x?bogus=1', 400, 'invalid_request'],
  ])('GET %s -> %i %s', async (url, status, code) => {
    const r = await api.get(url, 'bob')
    expect(r.status).toBe(status)
    expect(r.body.error).toBe(code)
  })

  it('the owning agent ends its session; ending again is idempotent; another agent cannot', async () => {
    const { session } = await api.issue('build-bot')
    expect((await api.del(`/v1/sessions/${session.id}`, 'other-bot')).status).toBe(404)
    const first = await api.del(`/v1/sessions/${session.id}`, 'build-bot')
    expect(first.status).toBe(200)
    expect(first.body.session).toMatchObject({ status: 'revoked', revoked_by: 'build-bot' })
    const again = await api.del(`/v1/sessions/${session.id}`, 'build-bot')
    expect(again.body.session).toEqual(first.body.session)
  })

  it('an operator revokes any session; an approver without the operator role cannot', async () => {
    const { session } = await api.issue('build-bot')
    expect((await api.del(`/v1/sessions/${session.id}`, 'alice')).body.error).toBe('forbidden')
    const r = await api.del(`/v1/sessions/${session.id}`, 'ops')
    expect(r.body.session).toMatchObject({ status: 'revoked', revoked_by: 'ops' })
    expect(r.body.session.revoked_at).toEqual(expect.any(String))
  })

  it('?wait holds until the status changes', async () => {
    const { session } = await api.issue('build-bot')
    const waiting = api.get(`/v1/sessions/${session.id}?wait=30`, 'build-bot')
    await api.del(`/v1/sessions/${session.id}`, 'ops')
    const r = await arrives(waiting, 'the ?wait answer after the revocation')
    expect(r.status).toBe(200)
    expect(r.body.status).toBe('revoked')
  })
})

describe('listing', () => {
  it('filters by agent, status and environment, pages with a cursor, and rejects bad paging', async () => {
    const mine: string[] = []
    for (let i = 0; i < 5; i++)
      mine.push((await api.issue('other-bot', { task: { id: `LIST-${i}` } })).session.id)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const q: string = `/v1/sessions?agent=other-bot&status=active&environment=staging&limit=2${cursor ? `&cursor=${cursor}` : ''}`
      const r = await api.get(q, 'bob')
      expect(r.status).toBe(200)
      expect(r.body.sessions.length).toBeLessThanOrEqual(2)
      for (const s of r.body.sessions) {
        expect(s).toMatchObject({ agent: 'other-bot', status: 'active', environment: 'staging' })
        seen.push(s.id)
      }
      cursor = r.body.next_cursor
    } while (cursor)
    expect(seen.sort()).toEqual([...mine].sort())
    expect((await api.get('/v1/sessions?limit=0', 'bob')).body.error).toBe('invalid_request')
    expect((await api.get('/v1/sessions?cursor=%%%', 'bob')).body.error).toBe('invalid_request')
    expect((await api.get('/v1/sessions?status=bogus', 'bob')).body).toMatchObject({
      error: 'invalid_request',
      message:
        'querystring/status must be one of: pending_approval, approved, active, denied, expired, revoked',
    })
    expect((await api.get('/v1/sessions', 'build-bot')).body.error).toBe('forbidden')
  })
})

describe('bulk revoke', () => {
  it('revokes exactly the matching live sessions', async () => {
    const a = await api.issue('build-bot', { task: { id: 'BULK-1' } })
    const b = await api.issue('build-bot', { task: { id: 'BULK-1' }, operation_class: 'write' })
    const c = await api.issue('build-bot', { task: { id: 'BULK-2' } })
    const r = await api.post('/v1/sessions/revoke', 'ops', { task_id: 'BULK-1' })
    expect(r.status).toBe(200)
    expect(r.body.revoked).toBe(2)
    expect(r.body.session_ids.sort()).toEqual([a.session.id, b.session.id].sort())
    expect((await api.get(`/v1/sessions/${c.session.id}`, 'ops')).body.status).toBe('active')
    const again = await api.post('/v1/sessions/revoke', 'ops', { task_id: 'BULK-1' })
    expect(again.body).toEqual({ revoked: 0, session_ids: [] })
  })

  it.each([
    [{}, 400, 'invalid_request'],
    [{ agent: 7 }, 400, 'invalid_request'],
    [{ colour: 'red' }, 400, 'invalid_request'],
  ])('%j -> %i', async (body, status, code) => {
    const r = await api.post('/v1/sessions/revoke', 'ops', body)
    expect(r.status).toBe(status)
    expect(r.body.error).toBe(code)
  })

  it('a record that cannot be read does not keep the other matches from being revoked', async () => {
    const first = await testBroker()
    let peer: TestBroker | undefined
    try {
      const live = [
        await client(first.app, first.keys).issue('build-bot', { task: { id: 'BULK-3' } }),
        await client(first.app, first.keys).issue('build-bot', { task: { id: 'BULK-3' } }),
      ].map((g) => g.session.id as string)
      // Alone in its profile, and that profile lost (a failover): its record cannot be decoded.
      const now = Date.now()
      const bad = makeRec(now, {
        status: 'active',
        agent: 'deploy-bot',
        task: { id: 'BULK-3', description: null },
      })
      expect(await first.broker.store.createSession(bad, 86_400_000, now)).toBe('ok')
      const redis = new Redis(first.redisUrl)
      try {
        const raw = (await redis.get(redisKeys(first.prefix).session(bad.id))) as string
        expect(await redis.del(redisKeys(first.prefix).profile(profileOf(raw)))).toBe(1)
      } finally {
        redis.disconnect()
      }

      // Another replica, which never saw the profile: the rest are revoked, then it answers 503.
      peer = await testBroker({ prefix: first.prefix, keys: first.keys })
      const other = client(peer.app, peer.keys)
      const r = await other.post('/v1/sessions/revoke', 'ops', { task_id: 'BULK-3' })
      expect(r.status).toBe(503)
      for (const id of live)
        expect((await other.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('revoked')
    } finally {
      await peer?.close()
      await first.close()
    }
  })

  it('needs the operator role', async () => {
    expect((await api.post('/v1/sessions/revoke', 'alice', { agent: 'build-bot' })).body.error).toBe(
      'forbidden',
    )
  })
})

describe('introspection', () => {
  it('resource servers see only their audiences; agents only their own tokens; operators all', async () => {
    const mine = await api.issue('build-bot')
    const other = await api.issue('build-bot', { provider: 'other-api' })
    const rs = await api.post('/v1/introspect', 'internal-api', { token: mine.grant.token })
    expect(rs.body).toMatchObject({
      active: true,
      sub: 'build-bot',
      client_id: 'build-bot',
      sid: mine.session.id,
      env: 'staging',
      op: 'read',
      provider: 'internal-api',
      task: 'JIRA-123',
      aud: 'https://api.internal.example',
      iss: 'http://airlock.test',
    })
    expect(Object.keys(rs.body).sort()).toEqual(
      [
        'active',
        'aud',
        'client_id',
        'env',
        'exp',
        'iat',
        'iss',
        'jti',
        'op',
        'provider',
        'sid',
        'sub',
        'task',
      ].sort(),
    )
    expect((await api.post('/v1/introspect', 'internal-api', { token: other.grant.token })).body).toEqual({
      active: false,
    })
    expect((await api.post('/v1/introspect', 'build-bot', { token: mine.grant.token })).body.active).toBe(
      true,
    )
    expect((await api.post('/v1/introspect', 'other-bot', { token: mine.grant.token })).body).toEqual({
      active: false,
    })
    expect((await api.post('/v1/introspect', 'ops', { token: other.grant.token })).body.active).toBe(true)
    expect((await api.post('/v1/introspect', 'alice', { token: other.grant.token })).body.error).toBe(
      'forbidden',
    )
  })

  it('accepts a form body (RFC 7662)', async () => {
    const { grant } = await api.issue('build-bot')
    const r = await t.app.inject({
      method: 'POST',
      url: '/v1/introspect',
      headers: { ...t.as('internal-api'), 'content-type': 'application/x-www-form-urlencoded' },
      payload: `token=${encodeURIComponent(grant.token)}&token_type_hint=access_token`,
    })
    expect(r.json()).toMatchObject({ active: true })
  })

  it.each([[{}], [{ token: '' }], [{ token: 5 }], [{ token: 'x', extra: 1 }]])(
    'bad body %j is 400',
    async (body) => {
      const r = await api.post('/v1/introspect', 'internal-api', body)
      expect(r.status).toBe(400)
      expect(r.body.error).toBe('invalid_request')
    },
  )

  it('garbage tokens are inactive, not errors', async () => {
    for (const token of ['garbage', 'a.b.c', 'eyJ.eyJ.x']) {
      expect((await api.post('/v1/introspect', 'ops', { token })).body).toEqual({ active: false })
    }
  })
})

describe('locks', () => {
  it('a lock revokes live matching sessions, blocks new ones and deactivates tokens until lifted', async () => {
    const live = await api.issue('other-bot', { task: { id: 'LOCK-1' } })
    const bystander = await api.issue('build-bot', { task: { id: 'LOCK-2' } })
    const created = await api.post('/v1/locks', 'ops', { agent: 'other-bot', reason: 'suspicious activity' })
    expect(created.status).toBe(201)
    expect(created.body.lock).toMatchObject({
      agent: 'other-bot',
      environment: null,
      reason: 'suspicious activity',
      created_by: 'ops',
    })
    expect(created.body.revoked_sessions).toContain(live.session.id)
    expect((await api.get(`/v1/sessions/${live.session.id}`, 'ops')).body.status).toBe('revoked')
    expect((await api.post('/v1/introspect', 'ops', { token: live.grant.token })).body).toEqual({
      active: false,
    })
    expect((await api.post('/v1/introspect', 'ops', { token: bystander.grant.token })).body.active).toBe(true)

    const refused = await api.post('/v1/sessions', 'other-bot', sessionBody())
    expect(refused.status).toBe(403)
    expect(refused.body.error).toBe('policy_denied')
    expect(refused.body.message).toMatch(/a lock holds.*suspicious activity/)

    expect((await api.get('/v1/locks', 'ops')).body.locks.map((l: { id: string }) => l.id)).toContain(
      created.body.lock.id,
    )
    expect((await api.del(`/v1/locks/${created.body.lock.id}`, 'ops')).status).toBe(200)
    expect((await api.del(`/v1/locks/${created.body.lock.id}`, 'ops')).status).toBe(404)
    expect((await api.post('/v1/sessions', 'other-bot', sessionBody())).status).toBe(201)
  })

  it('a lock on environment + provider matches only that combination', async () => {
    const lock = await api.post('/v1/locks', 'bob', {
      environment: 'staging',
      provider: 'other-api',
      reason: 'incident',
    })
    expect(lock.status).toBe(201)
    expect((await api.post('/v1/sessions', 'build-bot', sessionBody({ provider: 'other-api' }))).status).toBe(
      403,
    )
    expect((await api.post('/v1/sessions', 'build-bot', sessionBody())).status).toBe(201)
    await api.del(`/v1/locks/${lock.body.lock.id}`, 'bob')
  })

  it('a grant whose token cannot be signed answers 503, and its session ends revoked and audited', async () => {
    const tokens = t.app.broker.tokens
    const good = tokens.activeKey()
    // An Ed25519 key announced as ES256: the signing thread cannot make that signature.
    tokens.setKeys({ ...(await generateSigningKey('EdDSA')), alg: 'ES256' }, [good])
    let r: Awaited<ReturnType<typeof api.post>>
    try {
      r = await api.post('/v1/sessions', 'build-bot', sessionBody({ task: { id: 'SIGN-FAIL' } }))
    } finally {
      tokens.setKeys(good, [])
    }
    expect(r.status).toBe(503)
    expect(r.body.error).toBe('unavailable')
    expect(r.body.grant).toBeUndefined()
    const listed = (await api.get('/v1/sessions?agent=build-bot&limit=500', 'ops')).body.sessions.filter(
      (x: { task: { id: string } }) => x.task.id === 'SIGN-FAIL',
    )
    expect(listed.map((x: { status: string }) => x.status)).toEqual(['revoked'])
    const trail = (await t.app.broker.store.readAudit({ count: 50, reverse: true }))
      .map(
        (e) =>
          JSON.parse(e.json) as { type: string; session_id: string | null; details: { reason?: string } },
      )
      .filter((e) => e.session_id === listed[0].id)
      .reverse()
    expect(trail.map((e) => e.type)).toEqual(['session.issued', 'session.revoked'])
    expect(trail[1]?.details.reason).toMatch(/could not be signed/)
    expect((await api.post('/v1/sessions', 'build-bot', sessionBody())).status).toBe(201)
  })

  it('a lock refuses a request that would wait for approval: 403, no session, only request.denied audited', async () => {
    const lock = await api.post('/v1/locks', 'ops', { task_id: 'LOCK-PENDING', reason: 'frozen' })
    const r = await api.post(
      '/v1/sessions',
      'other-bot',
      sessionBody({ environment: 'prod', task: { id: 'LOCK-PENDING' } }),
    )
    expect(r.status).toBe(403)
    expect(r.body.message).toMatch(/a lock holds.*frozen/)
    const listed = (await api.get('/v1/sessions?agent=other-bot&limit=500', 'ops')).body.sessions
    expect(listed.length).toBeGreaterThan(0)
    expect(listed.filter((x: { task: { id: string } }) => x.task.id === 'LOCK-PENDING')).toEqual([])
    const recent = (await t.app.broker.store.readAudit({ count: 20, reverse: true })).map(
      (e) => JSON.parse(e.json) as { type: string; details: Record<string, unknown> },
    )
    const mine = recent.filter((e) => e.details['task_id'] === 'LOCK-PENDING')
    expect(mine.map((e) => e.type)).toEqual(['request.denied'])
    await api.del(`/v1/locks/${lock.body.lock.id}`, 'ops')
  })

  it('a lock on a task id: tokens of that task introspect inactive even before the sweep', async () => {
    const s = await api.issue('build-bot', { task: { id: 'TASK-LOCKED' } })
    const lock = await api.post('/v1/locks', 'ops', { task_id: 'TASK-LOCKED', reason: 'x' })
    expect((await api.post('/v1/introspect', 'internal-api', { token: s.grant.token })).body).toEqual({
      active: false,
    })
    await api.del(`/v1/locks/${lock.body.lock.id}`, 'ops')
  })

  it.each([
    [{ reason: 'nothing named' }, 400, 'invalid_request', /at least one/],
    [{ agent: 'ghost-bot', reason: 'x' }, 400, 'invalid_request', /unknown agent/],
    [{ environment: 'qa', reason: 'x' }, 400, 'invalid_request', /unknown environment/],
    [{ agent: 'build-bot' }, 400, 'invalid_request', /reason/],
    [
      { agent: 'build-bot', reason: 'x', expires_at: '2000-01-01T00:00:00Z' },
      400,
      'invalid_request',
      /future/,
    ],
    [{ agent: 'build-bot', reason: 'x', expires_at: 'tomorrow' }, 400, 'invalid_request', /expires_at/],
    [
      { agent: 'build-bot', reason: 'x', expires_at: '9999-12-31T23:59:59-23:59' },
      400,
      'invalid_request',
      /at most 9999-12-31T23:59:59Z/,
    ],
  ])('%j -> %i', async (body, status, code, message) => {
    const r = await api.post('/v1/locks', 'ops', body)
    expect(r.status).toBe(status)
    expect(r.body.error).toBe(code)
    expect(r.body.message).toMatch(message)
  })

  it('needs the operator role', async () => {
    expect((await api.post('/v1/locks', 'alice', { agent: 'build-bot', reason: 'x' })).body.error).toBe(
      'forbidden',
    )
    expect((await api.get('/v1/locks', 'build-bot')).body.error).toBe('forbidden')
  })
})

describe('service routes', () => {
  it('healthz, readyz, jwks, providers, metrics, openapi', async () => {
    expect((await api.get('/healthz', null)).body).toEqual({ status: 'ok' })
    expect((await api.get('/readyz', null)).body).toEqual({ status: 'ready' })
    const jwks = await api.get('/.well-known/jwks.json', null)
    expect(jwks.body.keys[0]).toMatchObject({
      kty: 'OKP',
      crv: 'Ed25519',
      alg: 'EdDSA',
      use: 'sig',
      kid: t.signingKey.kid,
    })
    expect(jwks.body.keys[0].d).toBeUndefined()
    const providers = await api.get('/v1/providers', 'ops')
    expect(providers.body.providers).toContainEqual({
      name: 'internal-api',
      type: 'jwt',
      audience: 'https://api.internal.example',
      ok: true,
      error: null,
    })
    expect((await api.get('/v1/providers', 'build-bot')).body.error).toBe('forbidden')
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' })
    expect(metrics.body).toMatch(
      /airlock_sessions_issued_total\{provider="internal-api",operation_class="read"\} \d+/,
    )
    expect(metrics.body).toMatch(/airlock_http_request_duration_seconds_bucket/)
    const doc = (await api.get('/docs/json', null)).body
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/sessions',
        '/v1/sessions/{id}',
        '/v1/introspect',
        '/v1/locks',
        '/v1/audit',
        '/.well-known/jwks.json',
      ]),
    )
    expect(doc.paths['/v1/sessions'].post.responses['201']).toBeDefined()
    // The unauthenticated service routes say so in the document; /v1 routes need the bearer.
    for (const path of ['/healthz', '/readyz', '/.well-known/jwks.json', '/metrics'])
      expect(doc.paths[path].get.security, path).toEqual([])
    expect(doc.paths['/v1/sessions'].post.security).toBeUndefined()
    expect(doc.security).toEqual([{ bearer: [] }])
    expect((await api.get('/nope', null)).body.error).toBe('not_found')
  })
})

describe('malformed requests still get the error body', () => {
  it.each([
    [
      'a malformed %-encoding in the path',
      'GET',
      '/v1/sessions/%ZZ',
      undefined,
      undefined,
      /malformed %-encoding/,
    ],
    ['invalid JSON', 'POST', '/v1/sessions', '{bad', 'application/json', /not valid JSON/],
    ['a __proto__ key', 'POST', '/v1/sessions', '{"__proto__":{"x":1}}', 'application/json', /__proto__/],
    ['a compressed body', 'POST', '/v1/sessions', 'xx', 'application/json', /Content-Encoding|not valid/],
  ])('%s: 400 invalid_request with request_id', async (_n, method, url, payload, type, message) => {
    const headers: Record<string, string> = { ...t.as('build-bot') }
    if (type) headers['content-type'] = type
    if (_n === 'a compressed body') headers['content-encoding'] = 'gzip'
    const r = await t.app.inject({
      method: method as 'GET',
      url,
      headers,
      ...(payload !== undefined && { payload }),
    })
    expect(r.statusCode).toBe(400)
    expect(r.json()).toEqual({
      error: 'invalid_request',
      message: expect.stringMatching(message),
      request_id: expect.any(String),
    })
  })

  it('a vault path with a literal % is a 400, not a crash', async () => {
    const r = await t.app.inject({
      method: 'PUT',
      url: '/v1/vault/a%25',
      headers: t.as('ops'),
      payload: { value: 'x' },
    })
    expect(r.statusCode).toBe(400)
    expect(r.json().error).toBe('invalid_request')
  })
})
