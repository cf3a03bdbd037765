// The session store (src/sessions/records.ts) on both stores: a session is created in the same
// atomic append as the audit event that records it, sharing the audit writer's group commit; a
// refused create ends alone and the chain stays whole.
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { AuditEvent } from '../../src/audit/chain.js'
import { verifyAuditLog } from '../../src/audit/read.js'
import type { SessionRecord } from '../../src/domain/session.js'
import { fromStates } from '../../src/sessions/lifecycle.js'
import { createSessionRecords } from '../../src/sessions/records.js'
import { ReplicaAckError } from '../../src/store/durable.js'
import { createMemoryStore } from '../../src/store/memory.js'
import type { Store } from '../../src/store/types.js'
import { events, expectChain, HOUR, newLog, newRedisStore, useCleanups } from '../support/audit.js'
import { makeLock, makeRec } from '../support/records.js'
import { landsUnacked } from '../support/unacked.js'

useCleanups()
afterEach(() => vi.restoreAllMocks())

const backends: { name: string; make(): Promise<Store> }[] = [
  { name: 'memory', make: async () => createMemoryStore() },
  { name: 'redis', make: async () => (await newRedisStore()).store },
]

describe.each(backends)('the session store on the $name store', ({ make }) => {
  it('creates sessions in the batch of their events; a refused one ends alone, the chain stays whole', async () => {
    const store = await make()
    const { log, lines, clock } = newLog(store)
    const records = createSessionRecords({ store, audit: log, clock, retentionMs: () => HOUR })
    const now = clock.now()
    await store.putLock(makeLock(now, { agent: 'other-bot' }))
    const taken = makeRec(now, { status: 'active' })
    expect(await store.createSession(taken, HOUR, now)).toBe('ok')
    const recs = Array.from({ length: 20 }, (_, i) =>
      i === 11 ? taken : makeRec(now, { status: 'active', agent: i === 7 ? 'other-bot' : 'build-bot' }),
    )
    const results = await Promise.all([
      ...recs.map((rec, i) =>
        records.create('grant', rec, {
          actor: rec.agent,
          session_id: rec.id,
          details: { i },
        }),
      ),
      log.record({ type: 'test.event', actor: 'ops' }),
    ])
    expect(results).toEqual([
      ...recs.map((_, i) => (i === 7 ? 'locked' : i === 11 ? 'exists' : 'ok')),
      undefined,
    ])

    const stored = await events(store)
    expect(stored.map((e) => e.details['i'] ?? e.type)).toEqual([
      ...recs.flatMap((_, i) => (i === 7 || i === 11 ? [] : [i])),
      'test.event',
    ])
    // The event type is the lifecycle's for the step.
    expect(stored.filter((e) => e.type === 'session.issued')).toHaveLength(18)
    expectChain(stored)
    expect(await store.getSessions(recs.map((r) => r.id))).toEqual(recs.map((r, i) => (i === 7 ? null : r)))
    expect(lines.map((l) => JSON.parse(l) as AuditEvent)).toEqual(stored)
    expect(await verifyAuditLog(store)).toMatchObject({ ok: true, events: 19, problems: [] })
  })

  it('refuses a create or a change the lifecycle has no step for', async () => {
    const store = await make()
    const { log, clock } = newLog(store)
    const records = createSessionRecords({ store, audit: log, clock, retentionMs: () => HOUR })
    const rec = makeRec(clock.now(), { status: 'approved' })
    await expect(records.create('grant', rec)).rejects.toThrow(/no step 'grant' from nothing to approved/)
    expect(await store.getSession(rec.id)).toBeNull()
    const pending = makeRec(clock.now(), { status: 'pending_approval' })
    expect(await records.create('request', pending, { actor: 'build-bot', session_id: pending.id })).toBe(
      'ok',
    )
    await expect(
      records.change(pending.id, 'claim', (cur) => ({ ...cur, status: 'active' })),
    ).rejects.toThrow(/no step 'claim' from pending_approval to active/)
    expect(await store.getSession(pending.id)).toEqual(pending)
  })

  it('undoes a claim back to approved only from the version the claim wrote; a revoke landing first wins', async () => {
    const store = await make()
    const { log, clock } = newLog(store)
    const records = createSessionRecords({ store, audit: log, clock, retentionMs: () => HOUR })
    const now = clock.now()
    const approved = makeRec(now, { status: 'approved', jti: null, handle: null })
    expect(await store.createSession(approved, HOUR, now)).toBe('ok')
    const event = { actor: 'airlock', session_id: approved.id }
    /** A claim of the record at `base`'s version, as the issuing code makes it. */
    const claim = (base: SessionRecord, jti: string) =>
      records.change(base.id, 'claim', (cur) =>
        cur.v === base.v ? { ...cur, status: 'active', jti, handle: {} } : null,
      )

    // Two claims racing from the same approved version: one wins.
    const raced = await Promise.all([claim(approved, 'j1'), claim(approved, 'j2')])
    expect(raced.filter((c) => c.changed)).toHaveLength(1)
    const first = raced.find((c) => c.changed)?.rec as SessionRecord
    const back = { ...approved, v: first.v + 1 }
    expect(await records.replaceWith('unclaim', back, first, event)).toBe('ok')
    expect(await store.getSession(approved.id)).toEqual(back)
    // Undone once: the same undo again finds the version moved.
    expect(await records.replaceWith('unclaim', { ...back, v: back.v + 1 }, first, event)).toBe('conflict')

    // Claimed again, then revoked before the undo: the undo is refused, the session stays revoked.
    const second = await claim(back, 'j3')
    expect(second.changed).toBe(true)
    const revoked = await records.change(approved.id, 'revoke', (cur) => ({
      ...cur,
      status: 'revoked',
      revoked_by: 'ops',
      revoked_at: now,
    }))
    expect(revoked.rec.status).toBe('revoked')
    const undo = { ...approved, v: second.rec.v + 1 }
    expect(await records.replaceWith('unclaim', undo, second.rec, event)).toBe('conflict')
    // Even at the revoked record's own version, the store refuses to leave revoked for approved.
    const over = { ...approved, v: revoked.rec.v + 1 }
    const opts = { checkLocks: false, retentionMs: HOUR, now, from: fromStates('unclaim') }
    expect(await store.casSession(over, revoked.rec.v, opts)).toBe('refused')
    await expect(records.replaceWith('unclaim', over, revoked.rec, event)).rejects.toThrow(
      /no step 'unclaim' from revoked to approved/,
    )
    expect(await store.getSession(approved.id)).toEqual(revoked.rec)

    const stored = await events(store)
    expect(stored.map((e) => e.type)).toEqual(['session.claim_undone'])
    expect(await verifyAuditLog(store)).toMatchObject({ ok: true, problems: [] })
  })

  it('announces a replace that landed with too few replica acknowledgements before it throws', async () => {
    const store = await make()
    const { log, clock } = newLog(store)
    const records = createSessionRecords({ store, audit: log, clock, retentionMs: () => HOUR })
    const now = clock.now()
    const issuing = makeRec(now, { status: 'issuing', handle: null })
    expect(await store.createSession(issuing, HOUR, now)).toBe('ok')
    const announced = vi.spyOn(store, 'publishChange')
    landsUnacked(store, 'casSession')
    const active = { ...issuing, v: issuing.v + 1, status: 'active' as const, handle: {} }
    await expect(records.replace('activate', active, issuing, false)).rejects.toBeInstanceOf(ReplicaAckError)
    expect(announced.mock.calls).toEqual([[issuing.id]])

    // The same for a replace written with its event.
    announced.mockClear()
    landsUnacked(log, 'recordWith')
    const back = { ...active, v: active.v + 1, status: 'approved' as const, jti: null, handle: null }
    const event = { actor: 'airlock', session_id: issuing.id }
    await expect(records.replaceWith('unclaim', back, active, event)).rejects.toBeInstanceOf(ReplicaAckError)
    expect(announced.mock.calls).toEqual([[issuing.id]])
    expect(await store.getSession(issuing.id)).toEqual(back)
  })

  it('announces a session created without an event (an issue starting), acknowledged or not', async () => {
    const store = await make()
    const { log, clock } = newLog(store)
    const records = createSessionRecords({ store, audit: log, clock, retentionMs: () => HOUR })
    const announced = vi.spyOn(store, 'publishChange')
    const issuing = makeRec(clock.now(), { status: 'issuing', handle: null })
    expect(await records.create('start_issuing', issuing)).toBe('ok')
    expect(announced.mock.calls).toEqual([[issuing.id]])
    // Refused: nothing was written, nothing is announced.
    expect(await records.create('start_issuing', issuing)).toBe('exists')
    expect(announced.mock.calls).toEqual([[issuing.id]])

    announced.mockClear()
    landsUnacked(store, 'createSession')
    const second = makeRec(clock.now(), { status: 'issuing', handle: null })
    await expect(records.create('start_issuing', second)).rejects.toBeInstanceOf(ReplicaAckError)
    expect(announced.mock.calls).toEqual([[second.id]])
  })
})
