// The session store (src/sessions/records.ts) on both stores: a session is created in the same
// atomic append as the audit event that records it, sharing the audit writer's group commit; a
// refused create ends alone and the chain stays whole.
import { describe, expect, it } from 'vitest'
import type { AuditEvent } from '../../src/audit/chain.js'
import { verifyAuditLog } from '../../src/audit/read.js'
import { createSessionRecords } from '../../src/sessions/records.js'
import { createMemoryStore } from '../../src/store/memory.js'
import type { Store } from '../../src/store/types.js'
import { events, expectChain, HOUR, newLog, newRedisStore, useCleanups } from '../support/audit.js'
import { makeLock, makeRec } from '../support/records.js'

useCleanups()

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
})
