// The audit events of endings that landed without them wait in a bounded list until the audit log
// takes them again: the oldest are dropped beyond the bound (one error says how many), the rest
// are written once, in order, and what is still owed at shutdown is reported.
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/log.js'
import { createOwedEvents } from '../../src/sessions/owed-events.js'
import { breakAuditHead, events, newLog, newRedisStore, redisUrl, useCleanups } from '../support/audit.js'
import { LineSink } from '../helper.js'

useCleanups()
let admin: Redis
beforeAll(() => {
  admin = new Redis(redisUrl)
})
afterAll(() => admin.disconnect())

const owedEvent = (i: number) => ({
  type: 'session.revoked',
  actor: 'ops',
  session_id: `ses_${i}`,
  details: { late: true, ended_at: new Date(0).toISOString() },
})

describe('owed audit events', () => {
  it('keep the newest up to the bound, say how many were dropped, and are written once', async () => {
    const { store, prefix } = await newRedisStore()
    const { log: audit } = newLog(store)
    await audit.record({ type: 'test.start', actor: 'tester' })
    const sink = new LineSink()
    const owed = createOwedEvents({
      audit,
      log: createLogger({ level: 'info', destination: sink }),
      max: 3,
      retryMs: 3_600_000,
    })
    const restore = await breakAuditHead(admin, prefix, audit.chain)
    for (let i = 0; i < 5; i++) owed.owe(owedEvent(i))
    expect(owed.size()).toBe(3)
    await owed.retry()
    await owed.retry()
    expect(owed.size()).toBe(3)
    const logged = sink.lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(logged.filter((l) => l.dropped !== undefined)).toEqual([expect.objectContaining({ dropped: 2 })])
    // One warning for the failing streak, not one per attempt.
    expect(logged.filter((l) => l.msg === 'late audit events not written yet')).toHaveLength(1)

    await restore()
    await owed.retry()
    expect(owed.size()).toBe(0)
    await owed.retry()
    const written = (await events(store)).filter((e) => e.type === 'session.revoked')
    expect(written.map((e) => e.session_id)).toEqual(['ses_2', 'ses_3', 'ses_4'])
    owed.close()
    expect(sink.lines.some((l) => l.includes('left unwritten at shutdown'))).toBe(false)
  })

  it('still owed at shutdown: an error says how many', async () => {
    const { store, prefix } = await newRedisStore()
    const { log: audit } = newLog(store)
    await audit.record({ type: 'test.start', actor: 'tester' })
    const sink = new LineSink()
    const owed = createOwedEvents({ audit, log: createLogger({ level: 'info', destination: sink }) })
    const restore = await breakAuditHead(admin, prefix, audit.chain)
    owed.owe(owedEvent(1))
    owed.owe(owedEvent(2))
    await owed.retry()
    owed.close()
    await restore()
    const logged = sink.lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(logged).toContainEqual(expect.objectContaining({ owed: 2, level: 50 }))
  })
})
