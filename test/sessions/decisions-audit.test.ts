// A decision and its audit event land together or not at all, against a real Redis: while the
// audit log cannot be written, an approval, a denial or a claim changes nothing and answers a 503
// saying so; once it can, the same call succeeds, with exactly one event.
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { breakAuditHead } from '../support/audit.js'
import { client, sessionBody, testBroker, type TestBroker } from '../helper.js'

type Body = Record<string, any>
let t: TestBroker
let api: ReturnType<typeof client>
let admin: Redis
beforeAll(async () => {
  t = await testBroker()
  api = client(t.app, t.keys)
  admin = new Redis(t.redisUrl)
})
afterAll(async () => {
  admin.disconnect()
  await t.close()
})

let restore: (() => Promise<void>) | null = null
/** Every audit append fails inside Redis, before it writes anything (see breakAuditHead). */
const breakAudit = async () => {
  const undo = await breakAuditHead(admin, t.prefix, t.app.broker.audit.chain)
  restore = async () => {
    await undo()
    restore = null
  }
}
afterEach(async () => restore?.())

const events = (sid: string, type: string) =>
  t.audit.map((l) => JSON.parse(l) as Body).filter((e) => e.session_id === sid && e.type === type)
const stored = async (sid: string) => (await api.get(`/v1/sessions/${sid}`, 'ops')).body as Body
const pending = async () => {
  const r = await api.post('/v1/sessions', 'build-bot', sessionBody({ operation_class: 'destructive' }))
  expect(r.status).toBe(202)
  return r.body.session as Body
}
const decide = (sid: string, who: string, decision: 'approve' | 'deny') =>
  api.post(`/v1/sessions/${sid}/approvals`, who, { decision })

/** The 503 of a decision the audit log refused. */
const refused = (r: { status: number; body: Body }) => {
  expect(r.status, JSON.stringify(r.body)).toBe(503)
  expect(r.body).toMatchObject({
    error: 'unavailable',
    message: expect.stringMatching(/audit log cannot be written, so nothing was (decided|issued): retry/),
  })
}

describe('a decision while the audit log cannot be written', () => {
  it('a deny changes nothing, answers 503, and lands with its event on the retry', async () => {
    const s = await pending()
    await breakAudit()
    refused(await decide(s.id, 'bob', 'deny'))
    const after = await stored(s.id)
    expect(after).toMatchObject({ status: 'pending_approval', approvals: [] })
    expect(after.denied_by ?? null).toBeNull()
    await restore?.()

    expect(events(s.id, 'session.denied')).toHaveLength(0)
    const again = await decide(s.id, 'bob', 'deny')
    expect(again.status).toBe(200)
    expect(again.body.session.status).toBe('denied')
    expect(events(s.id, 'session.denied')).toEqual([expect.objectContaining({ actor: 'bob' })])
  })

  it('an approval (the first and the last) changes nothing, answers 503, and lands on the retry', async () => {
    const s = await pending()
    await breakAudit()
    refused(await decide(s.id, 'bob', 'approve'))
    expect(await stored(s.id)).toMatchObject({ status: 'pending_approval', approvals: [] })
    await restore?.()
    expect((await decide(s.id, 'bob', 'approve')).status).toBe(200)
    expect(events(s.id, 'session.approval')).toHaveLength(1)

    await breakAudit()
    refused(await decide(s.id, 'carol', 'approve'))
    expect(await stored(s.id)).toMatchObject({ status: 'pending_approval', approvals: [{ by: 'bob' }] })
    await restore?.()
    const last = await decide(s.id, 'carol', 'approve')
    expect(last.status).toBe(200)
    expect(last.body.session.status).toBe('approved')
    expect(events(s.id, 'session.approved')).toHaveLength(1)
    expect(events(s.id, 'session.revoked')).toHaveLength(0)
  })

  it('a claim changes nothing, answers 503, and the grant can be claimed once it is back', async () => {
    const id = await api.approved()
    await breakAudit()
    const first = await api.post(`/v1/sessions/${id}/grant`, 'build-bot')
    refused(first)
    expect(first.body.grant).toBeUndefined()
    expect(await stored(id)).toMatchObject({ status: 'approved' })
    await restore?.()

    const again = await api.post(`/v1/sessions/${id}/grant`, 'build-bot')
    expect(again.status, JSON.stringify(again.body)).toBe(200)
    expect(again.body.session.status).toBe('active')
    expect(events(id, 'session.issued')).toHaveLength(1)
    expect((await api.post('/v1/introspect', 'ops', { token: again.body.grant.token })).body.active).toBe(
      true,
    )
  })
})

describe('decisions racing on two brokers sharing one Redis prefix', () => {
  let u: TestBroker
  let other: ReturnType<typeof client>
  beforeAll(async () => {
    u = await testBroker({ prefix: t.prefix, keys: t.keys })
    other = client(u.app, t.keys)
  })
  // The prefix is t's: only this broker is closed here.
  afterAll(async () => u.broker.close())

  const both = (sid: string, type: string) =>
    [...t.audit, ...u.audit]
      .map((l) => JSON.parse(l) as Body)
      .filter((e) => e.session_id === sid && e.type === type)
  const on = (c: ReturnType<typeof client>, sid: string, who: string, decision: string) =>
    c.post(`/v1/sessions/${sid}/approvals`, who, { decision })

  it('the same approval on both: one 200, one 409, one event', async () => {
    for (let i = 0; i < 5; i++) {
      const s = await pending()
      const rs = await Promise.all([on(api, s.id, 'bob', 'approve'), on(other, s.id, 'bob', 'approve')])
      expect(rs.map((r) => r.status).sort()).toEqual([200, 409])
      expect(both(s.id, 'session.approval')).toHaveLength(1)
    }
  })

  it('a deny and an approval at once: one outcome, an event for each decision that stands', async () => {
    for (let i = 0; i < 5; i++) {
      const s = await pending()
      const [a, d] = await Promise.all([on(api, s.id, 'bob', 'approve'), on(other, s.id, 'carol', 'deny')])
      expect(d.status).toBe(200)
      const final = await stored(s.id)
      expect(final.status).toBe('denied')
      expect(both(s.id, 'session.denied')).toHaveLength(1)
      // The approval landed before the deny, or was refused after it.
      expect(a.status === 200 ? 1 : 0).toBe(both(s.id, 'session.approval').length)
      expect(final.approvals).toHaveLength(a.status === 200 ? 1 : 0)
      if (a.status !== 200) expect(a.status).toBe(409)
    }
  })

  it('the last two approvals at once: approved, one event each', async () => {
    for (let i = 0; i < 5; i++) {
      const s = await pending()
      const rs = await Promise.all([on(api, s.id, 'bob', 'approve'), on(other, s.id, 'carol', 'approve')])
      expect(rs.map((r) => r.status)).toEqual([200, 200])
      expect((await stored(s.id)).status).toBe('approved')
      expect(both(s.id, 'session.approval')).toHaveLength(1)
      expect(both(s.id, 'session.approved')).toHaveLength(1)
    }
  })
})
