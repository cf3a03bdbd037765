// Issuing as a state of its own, expiry, and durable provider revocation, with a real Redis.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { client, sessionBody, TestClock, testBroker, type TestBroker } from '../helper.js'
import { makeLock } from '../support/records.js'
import { gatedProvider } from '../support/gated-provider.js'

const events = (t: TestBroker) =>
  t.audit.map(
    (l) => JSON.parse(l) as { type: string; session_id: string | null; details: Record<string, unknown> },
  )

describe('issuing with an external provider', () => {
  let t: TestBroker
  let api: ReturnType<typeof client>
  const ext = gatedProvider()
  const clock = new TestClock()
  beforeAll(async () => {
    t = await testBroker({ clock })
    t.broker.runtime().providers.set('ext-api', ext.provider)
    api = client(t.app, t.keys)
  })
  afterAll(async () => t.close())
  const body = (over = {}) => sessionBody({ provider: 'ext-api', ...over })

  it('issues: credentials in the grant, the handle kept for revocation', async () => {
    const r = await api.post('/v1/sessions', 'build-bot', body())
    expect(r.status).toBe(201)
    expect(r.body.grant.credentials).toEqual({ username: `u_${r.body.session.id}` })
    await api.del(`/v1/sessions/${r.body.session.id}`, 'build-bot')
    expect(ext.state.revoked.at(-1)).toMatchObject({
      sessionId: r.body.session.id,
      handle: { role: `r_${r.body.session.id}` },
    })
  })

  it('a revoke landing while the provider is issuing: fresh credentials revoked, caller gets 410', async () => {
    const h = ext.hold()
    const pending = api.post('/v1/sessions', 'build-bot', body({ task: { id: 'RACE-1' } }))
    const id = await h.started
    const during = await api.get(`/v1/sessions/${id}`, 'ops')
    expect(during.body.status).toBe('approved') // issuing reads as granted-but-not-yet-active
    const revoked = await api.del(`/v1/sessions/${id}`, 'ops')
    expect(revoked.body.session.status).toBe('revoked')
    h.release()
    const r = await pending
    expect(r.status).toBe(410)
    expect(r.body.error).toBe('gone')
    expect(ext.state.revoked.filter((x) => x.sessionId === id).map((x) => x.handle)).toContainEqual({
      role: `r_${id}`,
    })
    expect((await api.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('revoked')
    expect(
      events(t)
        .filter((e) => e.session_id === id)
        .map((e) => e.type),
    ).not.toContain('session.issued')
  })

  it('a lock landing while the provider is issuing: 410 and the credentials are revoked', async () => {
    const h = ext.hold()
    const pending = api.post('/v1/sessions', 'other-bot', body({ task: { id: 'RACE-2' } }))
    const id = await h.started
    const lock = await api.post('/v1/locks', 'ops', { agent: 'other-bot', reason: 'race' })
    h.release()
    const r = await pending
    expect(r.status).toBe(410)
    expect(ext.state.revoked.some((x) => x.sessionId === id && x.handle?.['role'] === `r_${id}`)).toBe(true)
    expect((await api.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('revoked')
    await api.del(`/v1/locks/${lock.body.lock.id}`, 'ops')
  })

  it('a lock the issuing session still meets at activation: 410, credentials revoked once, with their handle', async () => {
    const h = ext.hold()
    const pending = api.post('/v1/sessions', 'other-bot', body({ task: { id: 'RACE-3' } }))
    const id = await h.started
    // Straight into the store: a lock whose creation did not (yet) end this session.
    const lock = makeLock(Date.now(), { task_id: 'RACE-3' })
    await t.app.broker.store.putLock(lock)
    h.release()
    const r = await pending
    expect(r.status).toBe(410)
    expect(ext.state.revoked.filter((x) => x.sessionId === id).map((x) => x.handle)).toEqual([
      { role: `r_${id}` },
    ])
    expect((await api.get(`/v1/sessions/${id}`, 'ops')).body).toMatchObject({
      status: 'revoked',
      revoked_by: 'lock',
    })
    await t.app.broker.store.deleteLock(lock.id)
  })

  it('a provider answering after the issuing deadline: the session stays expired, the credentials are revoked', async () => {
    const h = ext.hold()
    const pending = api.post('/v1/sessions', 'build-bot', body({ task: { id: 'SLOW-1' } }))
    const id = await h.started
    clock.advance(61_000) // past the issuing deadline, before the sweeper's next pass
    expect((await api.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('expired')
    // Revoking the agent's live sessions passes it by: it reads as expired.
    const bulk = await api.post('/v1/sessions/revoke', 'ops', { agent: 'build-bot' })
    expect(bulk.body.session_ids).not.toContain(id)
    h.release()
    const r = await pending
    expect(r.status).toBe(503)
    expect(r.body.message).toMatch(/took longer than 60s to issue credentials; the session expired/)
    expect(r.body.grant).toBeUndefined()
    expect((await api.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('expired')
    expect(ext.state.revoked.filter((x) => x.sessionId === id).map((x) => x.handle)).toEqual([
      { role: `r_${id}` },
    ])
    const types = events(t)
      .filter((e) => e.session_id === id)
      .map((e) => e.type)
    expect(types).toContain('session.expired')
    expect(types).not.toContain('session.issued')
  })

  it('a provider failure is a 503 with a scrubbed message, and the session does not stay live', async () => {
    ext.state.failIssue = 'connect failed: postgres://admin:hunter2@db/x password=hunter2'
    const r = await api.post('/v1/sessions', 'build-bot', body({ task: { id: 'FAIL-1' } }))
    ext.state.failIssue = null
    expect(r.status).toBe(503)
    expect(r.body.error).toBe('unavailable')
    expect(r.body.message).not.toContain('hunter2')
    const id = ext.state.issued.at(-1) as string
    expect((await api.get(`/v1/sessions/${id}`, 'ops')).body.status).toBe('revoked')
  })

  it('a failed provider revocation is queued and retried until it succeeds, never dropped', async () => {
    const s = await api.issue('build-bot', { provider: 'ext-api', task: { id: 'RETRY-1' } })
    ext.state.failRevokes = 3
    await api.del(`/v1/sessions/${s.session.id}`, 'ops')
    expect(await t.broker.revocations.size()).toBe(1)
    for (let i = 0; i < 3; i++) {
      clock.advance(10 * 60_000) // past the longest backoff
      await t.broker.sweepOnce()
    }
    expect(ext.state.failRevokes).toBe(0)
    expect(await t.broker.revocations.size()).toBe(0)
    expect(ext.state.revoked.some((x) => x.sessionId === s.session.id)).toBe(true)
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body
    expect(metrics).toMatch(/airlock_revocation_failures_total\{provider="ext-api"\} 3/)
  })

  it('expiry: the sweeper records expired and revokes the credentials without any request', async () => {
    const s = await api.issue('build-bot', { provider: 'ext-api', ttl_seconds: 60, task: { id: 'EXP-1' } })
    clock.advance(61_000)
    await t.broker.sweepOnce()
    expect((await api.get(`/v1/sessions/${s.session.id}`, 'ops')).body.status).toBe('expired')
    expect(ext.state.revoked.some((x) => x.sessionId === s.session.id)).toBe(true)
    const expired = events(t).find((e) => e.type === 'session.expired' && e.session_id === s.session.id)
    expect(expired?.details).toMatchObject({ from: 'active', reason: 'ttl elapsed' })
  })

  it('a pending request expires after approvals.timeout', async () => {
    const r = await api.post('/v1/sessions', 'other-bot', sessionBody({ environment: 'prod' }))
    expect(r.body.session.status).toBe('pending_approval')
    clock.advance(31 * 60_000)
    await t.broker.sweepOnce()
    const after = await api.get(`/v1/sessions/${r.body.session.id}`, 'ops')
    expect(after.body.status).toBe('expired')
    const e = events(t).find((x) => x.type === 'session.expired' && x.session_id === r.body.session.id)
    expect(e?.details['reason']).toBe('approval timed out')
  })
})

describe('expiry in real time', () => {
  it('a 1 s session expires and is audited by the running sweeper, untouched by requests', async () => {
    const t = await testBroker({ sweeper: true, sweepEveryMs: 50 })
    try {
      const api = client(t.app, t.keys)
      const s = await api.issue('build-bot', { ttl_seconds: 1 })
      await vi.waitFor(
        () =>
          expect(events(t).some((e) => e.type === 'session.expired' && e.session_id === s.session.id)).toBe(
            true,
          ),
        { timeout: 5000, interval: 50 },
      )
      expect((await api.post('/v1/introspect', 'ops', { token: s.grant.token })).body).toEqual({
        active: false,
      })
    } finally {
      await t.close()
    }
  })

  it('sessions that expired while every broker was down are expired by the next broker', async () => {
    const clock = new TestClock()
    const first = await testBroker({ clock })
    const s = await client(first.app, first.keys).issue('build-bot', { ttl_seconds: 60 })
    await first.broker.close() // the broker goes away; its data stays in Redis
    clock.advance(120_000)
    const second = await testBroker({ clock, prefix: first.prefix, keys: first.keys })
    try {
      await second.broker.sweepOnce()
      const r = await client(second.app, second.keys).get(`/v1/sessions/${s.session.id}`, 'ops')
      expect(r.body.status).toBe('expired')
      expect(events(second).some((e) => e.type === 'session.expired' && e.session_id === s.session.id)).toBe(
        true,
      )
    } finally {
      await second.close()
    }
  })
})
