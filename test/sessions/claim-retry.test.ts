// A claim retried after a 503, on the memory store: with store.replica_acks, a claim whose write
// landed but was acknowledged by too few replicas is undone (the `unclaim` step): what the attempt
// minted is revoked, its token stays inactive, and the session is approved again, so the agent's
// retry gets the grant, once. A revoke landing meanwhile wins; the claim deadline still holds.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { verifyAuditLog } from '../../src/audit/read.js'
import { buildBroker, type RunningBroker } from '../../src/broker.js'
import { parseConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/log.js'
import { generateSigningKey } from '../../src/tokens/keys.js'
import { client, newKeys, TestClock, testConfigYaml } from '../helper.js'
import { gatedProvider } from '../support/gated-provider.js'
import { jtiOf } from '../support/jti.js'
import { landsUnacked, unackedCas as unackedCasOn } from '../support/unacked.js'

type Body = Record<string, any>
const brokers: RunningBroker[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const b of brokers.splice(0)) await b.close()
})

/** A broker on the memory store, as if store.replica_acks were 1, with the external `ext-api`. */
async function memoryBroker() {
  const keys = newKeys()
  const config = parseConfig(testConfigYaml('airlock-test:claim-retry:', keys), {
    baseDir: process.cwd(),
    env: { REDIS_URL: 'redis://127.0.0.1:1' },
  })
  config.store = { ...config.store, redis: null, replicaAcks: 1 }
  const audit: string[] = []
  const clock = new TestClock()
  const broker = await buildBroker(
    { config, allowMemoryStore: true, logger: createLogger({ level: 'silent' }) },
    {
      clock,
      sweeper: false,
      auditOut: (line) => audit.push(...line.split('\n')),
      signingKey: await generateSigningKey('EdDSA'),
    },
  )
  brokers.push(broker)
  const ext = gatedProvider()
  broker.runtime().providers.set('ext-api', ext.provider)
  const api = client(broker.app, keys)
  const store = broker.store
  /** The compare-and-set after `skip` more lands unacknowledged (see support/unacked.ts). */
  const unackedCas = (skip = 0, meanwhile?: () => Promise<unknown>) => unackedCasOn(store, skip, meanwhile)
  /**
   * The next audit append (with the session change it carries: a claim of `internal-api` and its
   * event) lands, unacknowledged; `meanwhile` runs between the two.
   */
  const unackedAppend = (meanwhile?: () => Promise<unknown>) =>
    landsUnacked(store, 'appendAudit', 0, meanwhile)
  /** Every token the broker signs. */
  const signed: string[] = []
  const tokens = broker.app.broker.tokens
  const sign = tokens.sign.bind(tokens)
  vi.spyOn(tokens, 'sign').mockImplementation(async (c) => {
    const token = await sign(c)
    signed.push(token)
    return token
  })
  /** An approved destructive request of build-bot (bob and carol approve; alice owns it). */
  const approved = async (over: Body = {}) => {
    const id = await api.approved(over)
    const s = (await api.get(`/v1/sessions/${id}`, 'ops')).body
    expect(s.status).toBe('approved')
    return s as Body
  }
  const claim = (id: string) => api.post(`/v1/sessions/${id}/grant`, 'build-bot')
  const status = async (id: string) => (await api.get(`/v1/sessions/${id}`, 'ops')).body as Body
  const introspect = async (token: string) =>
    (await api.post('/v1/introspect', 'internal-api', { token })).body as Body
  const types = (id: string) =>
    audit
      .map((l) => JSON.parse(l) as Body)
      .filter((e) => e.session_id === id)
      .map((e) => e.type as string)
  const event = (id: string, type: string) =>
    audit.map((l) => JSON.parse(l) as Body).find((e) => e.session_id === id && e.type === type)
  return {
    broker,
    api,
    clock,
    ext,
    signed,
    unackedCas,
    unackedAppend,
    approved,
    claim,
    status,
    introspect,
    types,
    event,
  }
}

const AFTER_APPROVAL = ['session.requested', 'session.approval', 'session.approved']

describe('a claim whose write the replicas did not acknowledge', () => {
  it('goes back to approved; the retried claim gets the grant, once', async () => {
    const b = await memoryBroker()
    const s = await b.approved()
    b.unackedAppend()
    const first = await b.claim(s.id)
    expect(first.status).toBe(503)
    expect(first.body).toMatchObject({
      error: 'unavailable',
      message: expect.stringMatching(/replicas acknowledged the claim .*can still be claimed: retry/),
    })
    expect(first.body.grant).toBeUndefined()
    // Signed while the claim was written, never handed out, and never active.
    for (const token of b.signed) expect(await b.introspect(token)).toEqual({ active: false })
    // Approved again, with the claim deadline it had.
    expect(await b.status(s.id)).toMatchObject({ status: 'approved', expires_at: s.expires_at })
    expect(b.event(s.id, 'session.claim_undone')).toMatchObject({
      actor: 'airlock',
      details: { from: 'active', status: 'approved', credentials_revoked: false, jti: expect.any(String) },
    })

    const again = await b.claim(s.id)
    expect(again.status).toBe(200)
    expect(again.body.session.status).toBe('active')
    expect(await b.introspect(again.body.grant.token)).toMatchObject({ active: true, sid: s.id })
    const third = await b.claim(s.id)
    expect(third.status).toBe(409)
    // The claim's event landed with it, and stays in the chain, followed by what undid it.
    expect(b.types(s.id)).toEqual([
      ...AFTER_APPROVAL,
      'session.issued',
      'session.claim_undone',
      'session.issued',
      'session.claim_refused',
    ])
    expect(await verifyAuditLog(b.broker.store)).toMatchObject({ ok: true, problems: [] })
  })

  it('its issued event unacknowledged: the token signed for it stays inactive; the retry gets another', async () => {
    const b = await memoryBroker()
    const s = await b.approved()
    b.unackedAppend()
    expect((await b.claim(s.id)).status).toBe(503)
    expect(b.signed).toHaveLength(1)
    const lost = b.signed[0] as string
    expect(await b.introspect(lost)).toEqual({ active: false })
    expect((await b.status(s.id)).status).toBe('approved')

    const again = await b.claim(s.id)
    expect(again.status).toBe(200)
    expect(again.body.grant.token).not.toBe(lost)
    expect(await b.introspect(again.body.grant.token)).toMatchObject({ active: true })
    expect(await b.introspect(lost)).toEqual({ active: false })
    // The undone attempt's event stays in the chain, followed by what undid it.
    expect(b.types(s.id)).toEqual([
      ...AFTER_APPROVAL,
      'session.issued',
      'session.claim_undone',
      'session.issued',
    ])
    // The event names the undone token; the session now holds only the new one.
    expect(b.event(s.id, 'session.claim_undone')?.details.jti).toBe(jtiOf(lost))
    expect(jtiOf(again.body.grant.token)).not.toBe(jtiOf(lost))
    expect(await verifyAuditLog(b.broker.store)).toMatchObject({ ok: true, problems: [] })
  })

  it('an external provider: the minted credentials are revoked, and the retry mints new ones', async () => {
    const b = await memoryBroker()
    const s = await b.approved({ provider: 'ext-api' })
    // The claim (approved -> issuing) is acknowledged; the activation is not.
    b.unackedCas(1)
    const first = await b.claim(s.id)
    expect(first.status).toBe(503)
    expect(first.body.message).toMatch(/can still be claimed: retry/)
    expect(b.ext.state.revoked).toEqual([
      expect.objectContaining({ sessionId: s.id, handle: { role: `r_${s.id}` } }),
    ])
    expect((await b.status(s.id)).status).toBe('approved')
    expect(b.event(s.id, 'session.claim_undone')?.details).toMatchObject({
      from: 'active',
      credentials_revoked: true,
    })

    const again = await b.claim(s.id)
    expect(again.status).toBe(200)
    expect(again.body.grant.credentials).toEqual({ username: `u_${s.id}` })
    expect(b.ext.state.issued.filter((id) => id === s.id)).toHaveLength(2)
    expect(b.ext.state.revoked).toHaveLength(1)
    expect((await b.claim(s.id)).status).toBe(409)
  })

  it('the claim itself unacknowledged: an external provider is never asked', async () => {
    const b = await memoryBroker()
    const s = await b.approved({ provider: 'ext-api' })
    b.unackedCas()
    expect((await b.claim(s.id)).status).toBe(503)
    expect(b.ext.state.issued).toEqual([])
    expect(b.ext.state.revoked).toEqual([])
    expect(b.event(s.id, 'session.claim_undone')?.details).toMatchObject({
      from: 'issuing',
      credentials_revoked: false,
    })
    expect((await b.claim(s.id)).status).toBe(200)
    expect(b.ext.state.issued).toEqual([s.id])
  })

  it('credentials that cannot be revoked at once: their revocation is queued for that attempt only, and the retry still gets the grant', async () => {
    const b = await memoryBroker()
    const s = await b.approved({ provider: 'ext-api' })
    b.ext.state.failRevokes = 1
    b.unackedCas(1)
    const first = await b.claim(s.id)
    expect(first.status).toBe(503)
    expect(first.body.message).toMatch(/can still be claimed: retry/)
    expect((await b.status(s.id)).status).toBe('approved')
    const undone = b.event(s.id, 'session.claim_undone')?.details
    expect(undone).toMatchObject({
      from: 'active',
      credentials_revoked: false,
      credentials_revocation_queued: true,
    })
    expect(b.ext.state.revoked).toEqual([])
    expect(await b.broker.revocations.size()).toBe(1)

    const again = await b.claim(s.id)
    expect(again.status).toBe(200)
    const [attempt1, attempt2] = b.ext.state.attempts
    expect(attempt1).toBe(undone.jti)
    expect(attempt2).toBe(jtiOf(again.body.grant.token))
    expect(attempt2).not.toBe(attempt1)

    // The queue retries the first attempt's revocation after the second attempt was issued: it
    // names the first attempt only, and the session and its grant stay live.
    b.clock.advance(5_000) // past the first retry's backoff (at most 2 s)
    await b.broker.sweepOnce()
    expect(await b.broker.revocations.size()).toBe(0)
    expect(b.ext.state.revoked).toEqual([
      expect.objectContaining({ sessionId: s.id, attempt: attempt1, handle: { role: `r_${s.id}` } }),
    ])
    expect((await b.status(s.id)).status).toBe('active')
    const seen = await b.api.post('/v1/introspect', 'ops', { token: again.body.grant.token })
    expect(seen.body).toMatchObject({ active: true, sid: s.id })
  })

  it('every issue attempt reaches the provider with its own identity, and its revocation names it', async () => {
    const b = await memoryBroker()
    const s = await b.approved({ provider: 'ext-api' })
    b.unackedCas(1)
    expect((await b.claim(s.id)).status).toBe(503)
    const undone = b.event(s.id, 'session.claim_undone')?.details
    expect(b.ext.state.revoked).toEqual([expect.objectContaining({ attempt: undone.jti })])
    const again = await b.claim(s.id)
    expect(again.status).toBe(200)
    expect(b.ext.state.attempts).toEqual([undone.jti, jtiOf(again.body.grant.token)])
    // Ending the session revokes the second attempt's credentials, by its own identity.
    expect((await b.api.del(`/v1/sessions/${s.id}`, 'ops')).status).toBe(200)
    expect(b.ext.state.revoked.map((r) => r.attempt)).toEqual([undone.jti, jtiOf(again.body.grant.token)])
  })

  it('a revoke landing before the claim is undone wins: the session never returns to approved', async () => {
    const b = await memoryBroker()
    const s = await b.approved({ provider: 'ext-api' })
    b.unackedCas(1, async () => {
      expect((await b.api.del(`/v1/sessions/${s.id}`, 'ops')).status).toBe(200)
    })
    const first = await b.claim(s.id)
    expect(first.status).toBe(503)
    expect(first.body.message).not.toMatch(/retry/)
    expect((await b.status(s.id)).status).toBe('revoked')
    // Revoked by the operator's revocation (the handle was recorded) and by the undoing attempt.
    expect(b.ext.state.revoked.every((r) => r.handle?.['role'] === `r_${s.id}`)).toBe(true)
    expect(b.ext.state.revoked.length).toBeGreaterThan(0)
    expect(b.types(s.id)).not.toContain('session.claim_undone')
    expect((await b.claim(s.id)).status).toBe(410)

    // The same with nothing minted yet: the revoke lands right after the unacknowledged claim.
    // The revoke's event waits for the append in flight, so only its record is awaited here.
    const t = await b.approved({ task: { id: 'RACE-JWT' } })
    let revoke: ReturnType<typeof b.api.del> | undefined
    b.unackedAppend(async () => {
      revoke = b.api.del(`/v1/sessions/${t.id}`, 'ops')
      await vi.waitFor(async () => expect((await b.broker.store.getSession(t.id))?.status).toBe('revoked'))
    })
    expect((await b.claim(t.id)).status).toBe(503)
    expect((await revoke)?.status).toBe(200)
    expect((await b.status(t.id)).status).toBe('revoked')
    expect((await b.claim(t.id)).status).toBe(410)
    expect(await verifyAuditLog(b.broker.store)).toMatchObject({ ok: true, problems: [] })
  })

  it('two retried claims racing: exactly one gets the grant', async () => {
    const b = await memoryBroker()
    const s = await b.approved()
    b.unackedAppend()
    expect((await b.claim(s.id)).status).toBe(503)
    const both = await Promise.all([b.claim(s.id), b.claim(s.id)])
    expect(both.map((r) => r.status).sort()).toEqual([200, 409])
    // One issued after the undone attempt's.
    const types = b.types(s.id)
    expect(
      types.slice(types.indexOf('session.claim_undone')).filter((t) => t === 'session.issued'),
    ).toHaveLength(1)
  })

  it('the claim window still holds: an undone claim past its deadline expires', async () => {
    const b = await memoryBroker()
    const s = await b.approved()
    b.unackedAppend()
    expect((await b.claim(s.id)).status).toBe(503)
    b.clock.advance(10 * 60_000 + 1)
    await b.broker.sweepOnce()
    expect((await b.status(s.id)).status).toBe('expired')
    expect((await b.claim(s.id)).status).toBe(410)
    expect(b.event(s.id, 'session.expired')?.details).toMatchObject({
      from: 'approved',
      reason: 'claim window passed',
    })
  })
})
