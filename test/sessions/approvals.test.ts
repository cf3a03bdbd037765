// The two-person rule over the API against a real Redis: who may approve or deny, every bad input's
// exact status and code, claiming once, waiting agents waking, and races converging on one outcome
// with one audit trail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256Hex } from '../../src/auth/apikeys.js'
import { client, replicaWith, sessionBody, testBroker, TestClock, type TestBroker } from '../helper.js'
import { arrives } from '../support/bounded.js'

const DAVE = 'ak_dave_not-listed-by-the-destructive-rule'
const THIRD = 'ak_third-bot_owned-by-ops'
const yaml = {
  // dave approves, but the destructive rule does not list him; third-bot's owner is no approver,
  // so alice, bob and carol may all approve its requests.
  extraHumans: `  - { id: dave, roles: [approver], slack_user_id: U0DAVE, api_key_sha256: ${sha256Hex(DAVE)} }`,
  extraAgents: `  - { id: third-bot, owner: ops, api_key_sha256: ${sha256Hex(THIRD)} }`,
}

let t: TestBroker
let api: ReturnType<typeof client>
const clock = new TestClock()
beforeAll(async () => {
  t = await testBroker({ yaml, clock })
  api = client(t.app, { ...t.keys, dave: DAVE, 'third-bot': THIRD })
})
afterAll(async () => t.close())

type Body = Record<string, any>
const events = (sid: string) =>
  t.audit.map((l) => JSON.parse(l) as Body).filter((e) => e.session_id === sid && e.type !== undefined)
const pending = async (agent: string, over: Record<string, unknown> = {}) => {
  const r = await api.post('/v1/sessions', agent, sessionBody({ operation_class: 'destructive', ...over }))
  expect(r.status).toBe(202)
  return r.body.session as Body
}
const approve = (sid: string, who: string, body: Body = { decision: 'approve' }) =>
  api.post(`/v1/sessions/${sid}/approvals`, who, body)
const claim = (sid: string, who: string) => api.post(`/v1/sessions/${sid}/grant`, who)
const introspect = (token: string) => api.post('/v1/introspect', 'ops', { token })

describe('the two-person rule over the API', () => {
  it('two distinct eligible humans approve, the owning agent claims once, the token is active', async () => {
    // other-bot is owned by bob: alice and carol are the eligible approvers.
    const s = await pending('other-bot')
    expect(s).toMatchObject({ status: 'pending_approval', approvals_required: 2, approvals: [] })

    const first = await approve(s.id, 'alice', { decision: 'approve', comment: 'ticket OPS-7' })
    expect(first.status).toBe(200)
    expect(first.body.session).toMatchObject({ status: 'pending_approval' })
    expect(first.body.session.approvals).toEqual([
      { by: 'alice', via: 'api', at: expect.any(String), comment: 'ticket OPS-7' },
    ])

    // The owner, the same human again, an unlisted approver, a non-approver and the agent change nothing.
    const owner = await approve(s.id, 'bob')
    expect(owner.status).toBe(403)
    expect(owner.body).toMatchObject({
      error: 'forbidden',
      message: expect.stringMatching(/bob owns other-bot/),
    })
    const twice = await approve(s.id, 'alice')
    expect(twice.status).toBe(409)
    expect(twice.body).toMatchObject({
      error: 'conflict',
      message: expect.stringMatching(/already approved/),
    })
    const dave = await approve(s.id, 'dave')
    expect(dave.status).toBe(403)
    expect(dave.body.message).toMatch(/dave is not an eligible approver .*eligible: alice, carol/)
    expect((await approve(s.id, 'ops')).body.error).toBe('forbidden')
    expect((await approve(s.id, 'other-bot')).body.error).toBe('forbidden')
    const still = await api.get(`/v1/sessions/${s.id}`, 'ops')
    expect(still.body.approvals).toHaveLength(1)
    expect(still.body.status).toBe('pending_approval')

    expect((await claim(s.id, 'other-bot')).body.error).toBe('approval_pending')

    const second = await approve(s.id, 'carol')
    expect(second.status).toBe(200)
    const approved = second.body.session
    expect(approved.status).toBe('approved')
    expect(approved.approvals.map((a: Body) => a.by)).toEqual(['alice', 'carol'])
    // The claim window (default 10m) starts at the last approval.
    expect(Date.parse(approved.expires_at)).toBe(clock.now() + 10 * 60_000)
    expect((await approve(s.id, 'alice')).body.error).toBe('conflict')

    expect((await claim(s.id, 'build-bot')).status).toBe(404)
    const got = await claim(s.id, 'other-bot')
    expect(got.status).toBe(200)
    expect(got.body.session).toMatchObject({ status: 'active', id: s.id })
    expect(got.body.grant).toMatchObject({ token_type: 'Bearer', credentials: {} })
    expect((await introspect(got.body.grant.token)).body).toMatchObject({ active: true, sid: s.id })

    const again = await claim(s.id, 'other-bot')
    expect(again.status).toBe(409)
    expect(again.body.error).toBe('conflict')

    expect(events(s.id).map((e) => e.type)).toEqual([
      'session.requested',
      'session.approval',
      'session.approved',
      'session.claim_refused', // build-bot tried another agent's grant
      'session.issued',
      'session.claim_refused', // the second claim: a possible theft
    ])
    const refused = events(s.id).filter((e) => e.type === 'session.claim_refused')
    expect(refused[1]).toMatchObject({ actor: 'other-bot', details: { possible_theft: true } })
    expect(events(s.id)[2]).toMatchObject({
      actor: 'carol',
      details: { approvers: ['alice', 'carol'], approvals: 2, approvals_required: 2, via: 'api' },
    })
  })

  it('one deny ends the request; owners may deny; the on_behalf_of human may not approve', async () => {
    const s = await pending('other-bot')
    const denied = await approve(s.id, 'carol', { decision: 'deny', comment: 'not during the freeze' })
    expect(denied.status).toBe(200)
    expect(denied.body.session).toMatchObject({ status: 'denied', denied_by: 'carol' })
    expect((await approve(s.id, 'alice')).body.error).toBe('conflict')
    expect((await claim(s.id, 'other-bot')).body.error).toBe('gone')
    expect(events(s.id).at(-1)).toMatchObject({
      type: 'session.denied',
      actor: 'carol',
      details: { comment: 'not during the freeze' },
    })

    const byOwner = await pending('other-bot')
    const r = await approve(byOwner.id, 'bob', { decision: 'deny' })
    expect(r.body.session).toMatchObject({ status: 'denied', denied_by: 'bob' })

    // build-bot (owner alice) on behalf of carol: only bob may approve prod reads.
    const obo = await pending('build-bot', {
      environment: 'prod',
      operation_class: 'read',
      on_behalf_of: 'carol',
    })
    expect(obo.approvals_required).toBe(1)
    const carol = await approve(obo.id, 'carol')
    expect(carol.status).toBe(403)
    expect(carol.body.message).toMatch(/on behalf of carol/)
    expect((await approve(obo.id, 'carol', { decision: 'deny' })).status).toBe(403)
    expect((await approve(obo.id, 'bob')).body.session.status).toBe('approved')
  })

  it('claims after revocation, denial or expiry are 410; an unclaimed grant expires after the claim window', async () => {
    const revoked = await pending('other-bot')
    await api.del(`/v1/sessions/${revoked.id}`, 'ops')
    expect((await claim(revoked.id, 'other-bot')).body.error).toBe('gone')
    expect((await approve(revoked.id, 'alice')).body.error).toBe('conflict')

    const timedOut = await pending('other-bot')
    clock.advance(31 * 60_000)
    expect((await claim(timedOut.id, 'other-bot')).body.error).toBe('gone')
    expect((await approve(timedOut.id, 'alice')).body.error).toBe('conflict')

    const unclaimed = await pending('other-bot')
    await approve(unclaimed.id, 'alice')
    await approve(unclaimed.id, 'carol')
    clock.advance(10 * 60_000 + 1)
    await t.broker.sweepOnce()
    const after = await api.get(`/v1/sessions/${unclaimed.id}`, 'ops')
    expect(after.body.status).toBe('expired')
    const claimed = await claim(unclaimed.id, 'other-bot')
    expect(claimed.status).toBe(410)
    expect(events(unclaimed.id).find((e) => e.type === 'session.expired')?.details.reason).toBe(
      'claim window passed',
    )
  })

  it('a lock created after approval revokes the grant before it is claimed: 410, nothing issued', async () => {
    const s = await pending('other-bot', { task: { id: 'LOCKED-CLAIM' } })
    await approve(s.id, 'alice')
    await approve(s.id, 'carol')
    const lock = await api.post('/v1/locks', 'ops', { task_id: 'LOCKED-CLAIM', reason: 'incident' })
    expect(lock.status).toBe(201)
    // Creating the lock revoked the approved session; the claim is gone either way, nothing issued.
    const r = await claim(s.id, 'other-bot')
    expect(r.status).toBe(410)
    expect(events(s.id).some((e) => e.type === 'session.issued')).toBe(false)
  })

  it.each([
    ['an unknown decision', 400, 'invalid_request', { decision: 'maybe' }, /decision/],
    ['a missing decision', 400, 'invalid_request', {}, /decision/],
    ['an unknown field', 400, 'invalid_request', { decision: 'approve', by: 'carol' }, /unknown field 'by'/],
    [
      'a comment over 500 chars',
      400,
      'invalid_request',
      { decision: 'approve', comment: 'c'.repeat(501) },
      /comment/,
    ],
  ])('%s is %i %s', async (_n, status, code, body, message) => {
    const s = await pending('other-bot')
    const r = await approve(s.id, 'alice', body)
    expect(r.status).toBe(status)
    expect(r.body).toMatchObject({ error: code, request_id: expect.any(String) })
    expect(r.body.message).toMatch(message)
    expect((await api.get(`/v1/sessions/${s.id}`, 'ops')).body.approvals).toEqual([])
  })

  it('unknown sessions are 404; approving needs the approver role; claiming needs an agent', async () => {
    expect((await approve('ses_doesnotexist0000000000', 'alice')).status).toBe(404)
    expect((await claim('ses_doesnotexist0000000000', 'other-bot')).status).toBe(404)
    expect((await approve('ses%20bad', 'alice')).body.error).toBe('invalid_request')
    const s = await pending('other-bot')
    expect((await approve(s.id, 'internal-api')).status).toBe(403)
    expect((await approve(s.id, null as unknown as string)).status).toBe(401)
    expect((await claim(s.id, 'alice')).body.error).toBe('forbidden')
  })

  it('without a slack section the Slack endpoint does not exist (404); approvals work over the API alone', async () => {
    const r = await t.app.inject({
      method: 'POST',
      url: '/slack/interactions',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'payload=%7B%7D',
    })
    expect(r.statusCode).toBe(404)
    expect(r.json()).toMatchObject({ error: 'not_found' })
  })

  it('?wait holds through the first of two approvals and returns when the request is approved', async () => {
    const s = await pending('other-bot')
    const waiting = api.get(`/v1/sessions/${s.id}?wait=30`, 'other-bot')
    expect((await approve(s.id, 'alice')).status).toBe(200)
    expect((await approve(s.id, 'carol')).status).toBe(200)
    const r = await arrives(waiting, 'the ?wait answer after the second approval')
    expect(r.status).toBe(200)
    expect(r.body.status).toBe('approved')
  })
})

describe('races', () => {
  it('50 concurrent approvals and revokes: one consistent final state, one trail, audit chain intact', async () => {
    const s = await pending('third-bot')
    const who = ['alice', 'bob', 'carol']
    const calls = Array.from({ length: 50 }, (_, i) =>
      i % 5 === 4 ? api.del(`/v1/sessions/${s.id}`, 'ops') : approve(s.id, who[i % 3]!),
    )
    const results = await Promise.all(calls)
    const approvals = results.filter((_, i) => i % 5 !== 4)
    for (const r of results) expect([200, 409, 410]).toContain(r.status)

    const final = (await api.get(`/v1/sessions/${s.id}`, 'ops')).body
    expect(final.status).toBe('revoked')
    expect(final.revoked_by).toBe('ops')
    const approvers = final.approvals.map((a: Body) => a.by)
    expect(new Set(approvers).size).toBe(approvers.length)
    expect(approvers.length).toBeLessThanOrEqual(2)
    expect(approvals.filter((r) => r.status === 200)).toHaveLength(approvers.length)

    const trail = events(s.id)
    expect(trail.filter((e) => e.type === 'session.revoked')).toHaveLength(1)
    const decided = trail.filter((e) => e.type === 'session.approval' || e.type === 'session.approved')
    expect(decided.map((e) => e.actor)).toEqual(approvers)
    expect(trail.filter((e) => e.type === 'session.approved')).toHaveLength(approvers.length === 2 ? 1 : 0)
    // The trail is in the order things happened: nothing is approved after the revocation.
    expect(trail.at(-1)?.type).toBe('session.revoked')

    const verify = await api.get('/v1/audit/verify', 'ops')
    expect(verify.body).toMatchObject({ ok: true, problems: [] })
  })

  it('two last approvals arriving together: exactly one completes the request', async () => {
    const s = await pending('third-bot')
    await approve(s.id, 'alice')
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => approve(s.id, i % 2 ? 'bob' : 'carol')),
    )
    const ok = results.filter((r) => r.status === 200)
    expect(ok).toHaveLength(1)
    expect(results.filter((r) => r.status === 409)).toHaveLength(19)
    const final = (await api.get(`/v1/sessions/${s.id}`, 'ops')).body
    expect(final.status).toBe('approved')
    expect(final.approvals).toHaveLength(2)
    expect(events(s.id).filter((e) => e.type === 'session.approved')).toHaveLength(1)
  })

  it('concurrent claims: one grant, the others 409 and audited', async () => {
    const s = await pending('third-bot')
    await approve(s.id, 'alice')
    await approve(s.id, 'bob')
    const results = await Promise.all(Array.from({ length: 10 }, () => claim(s.id, 'third-bot')))
    expect(results.filter((r) => r.status === 200)).toHaveLength(1)
    expect(results.filter((r) => r.status === 409).every((r) => r.body.error === 'conflict')).toBe(true)
    expect(results.filter((r) => r.status === 409)).toHaveLength(9)
    expect(events(s.id).filter((e) => e.type === 'session.issued')).toHaveLength(1)
    expect(events(s.id).filter((e) => e.type === 'session.claim_refused')).toHaveLength(9)
  })

  it('a claim racing a revoke: either the grant was issued and is then revoked, or the claim is 410', async () => {
    for (let i = 0; i < 5; i++) {
      const s = await pending('third-bot')
      await approve(s.id, 'alice')
      await approve(s.id, 'bob')
      const [c] = await Promise.all([claim(s.id, 'third-bot'), api.del(`/v1/sessions/${s.id}`, 'ops')])
      expect([200, 410]).toContain(c.status)
      const final = (await api.get(`/v1/sessions/${s.id}`, 'ops')).body
      expect(final.status).toBe('revoked')
      if (c.status === 200) expect((await introspect(c.body.grant.token)).body).toEqual({ active: false })
      expect(events(s.id).filter((e) => e.type === 'session.issued')).toHaveLength(c.status === 200 ? 1 : 0)
    }
  })
})

/** Runs `fn` with the test config edited by `edit` in force, then puts the original back. */
async function withConfig(edit: (yaml: string) => string, fn: () => Promise<void>) {
  const { parseConfig } = await import('../../src/config/load.js')
  const { testConfigYaml } = await import('../support/fixtures.js')
  const original = testConfigYaml(t.prefix, t.keys, yaml)
  const edited = edit(original)
  expect(edited).not.toBe(original)
  const before = t.broker.runtime().config
  await t.broker.reload(parseConfig(edited, { baseDir: '.', env: { REDIS_URL: t.redisUrl } }))
  try {
    await fn()
  } finally {
    await t.broker.reload(before)
  }
}

/**
 * Runs `fn` against a replica started with the test config edited by `edit`: a reload here would
 * revoke what the edit no longer allows, but a replica whose config is newer than a request (one
 * not reloaded everywhere yet) must refuse it on its own.
 */
async function withReplica(edit: (yaml: string) => string, fn: (on: typeof api) => Promise<void>) {
  const r = await replicaWith(t, edit, { yaml, clock })
  try {
    await fn(client(r.app, r.keys))
  } finally {
    await r.close()
  }
}

describe('approvers who cannot act are not counted', () => {
  it('a request that nobody could approve is refused at once, naming who lacks a way to approve', async () => {
    await withConfig(
      // carol keeps her Slack id, but this broker has no Slack: she has no way to approve.
      (y) => y.replace(/(id: carol, roles: \[approver\], slack_user_id: U0CAROL), api_key_sha256: \w+/, '$1'),
      async () => {
        const r = await api.post(
          '/v1/sessions',
          'other-bot',
          sessionBody({ operation_class: 'destructive', task: { id: 'NOBODY-1' } }),
        )
        expect(r.status).toBe(403)
        expect(r.body).toMatchObject({
          error: 'policy_denied',
          message:
            'needs 2 approvals but only 1 eligible approver(s) exist for other-bot (carol has no API key, Slack id or console sign-in to approve with)',
        })
        const listed = (await api.get('/v1/entitlements', 'other-bot')).body.entitlements as {
          operation_class: string
        }[]
        expect(listed.some((e) => e.operation_class === 'destructive')).toBe(false)
      },
    )
  })
})

describe('approvals already given', () => {
  it('still count at the claim when their approver has since lost every way to act', async () => {
    const id = await api.approved({ task: { id: 'REACH-1' } })
    await withConfig(
      // carol keeps her Slack id, but this broker has no Slack: she could approve nothing now.
      (y) => y.replace(/(id: carol, roles: \[approver\], slack_user_id: U0CAROL), api_key_sha256: \w+/, '$1'),
      async () => {
        const c = await claim(id, 'build-bot')
        expect(c.status, JSON.stringify(c.body)).toBe(200)
        expect(c.body.session.status).toBe('active')
      },
    )
  })
})

describe('a newer config between approval and claim', () => {
  it('a claim is refused when the policy now needs more approvals than the request has', async () => {
    const r = await api.post(
      '/v1/sessions',
      'other-bot',
      sessionBody({ environment: 'prod', task: { id: 'RELOAD-1' } }),
    )
    expect(r.body.session).toMatchObject({ status: 'pending_approval', approvals_required: 1 })
    expect((await approve(r.body.session.id, 'alice')).body.session.status).toBe('approved')
    await withReplica(
      (y) =>
        y.replace(
          'operation_classes: [read]\n    providers: ["*"]\n    approvals: 1',
          'operation_classes: [read]\n    providers: ["*"]\n    approvals: 2',
        ),
      async (on) => {
        const c = await on.post(`/v1/sessions/${r.body.session.id}/grant`, 'other-bot')
        expect(c.status).toBe(403)
        expect(c.body).toMatchObject({
          error: 'policy_denied',
          message: 'the policy now needs 2 approvals; this request has 1',
        })
      },
    )
  })
})

describe('owners and eligibility', () => {
  it("an agent's owner without the approver role may deny over the API, not approve", async () => {
    // third-bot is owned by ops (operator, admin; not an approver).
    const s = await pending('third-bot', { task: { id: 'OWNER-DENY' } })
    const approveTry = await approve(s.id, 'ops')
    expect(approveTry.status).toBe(403)
    expect(approveTry.body.error).toBe('forbidden')
    const deny = await approve(s.id, 'ops', { decision: 'deny', comment: 'not today' })
    expect(deny.status).toBe(200)
    expect(deny.body.session).toMatchObject({ status: 'denied', denied_by: 'ops' })
  })

  it('a claim counts only approvals from people still eligible under a newer config', async () => {
    const r = await api.post(
      '/v1/sessions',
      'other-bot',
      sessionBody({ environment: 'prod', task: { id: 'RELOAD-2' } }),
    )
    expect((await approve(r.body.session.id, 'alice')).body.session.status).toBe('approved')
    await withReplica(
      (y) =>
        y
          .replace('{ id: alice, roles: [approver]', '{ id: alice, roles: []')
          .replace(/approvers: \[alice, bob, carol\]/, 'approvers: [bob, carol]'),
      async (on) => {
        const c = await on.post(`/v1/sessions/${r.body.session.id}/grant`, 'other-bot')
        expect(c.status).toBe(403)
        expect(c.body).toMatchObject({
          error: 'policy_denied',
          message: 'the policy now needs 1 approvals; this request has 0',
        })
      },
    )
  })
})
