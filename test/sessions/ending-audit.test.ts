// A session's ending and its audit event land in one atomic append (one script call to Redis).
// When the audit log cannot be written, the revocation still lands, alone, and its event is
// written late, once, marked as such, as soon as the log takes events again. Redis here is a
// private server, so its command counts are this broker's alone.
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { AuditEvent } from '../../src/audit/chain.js'
import { verifyAuditLog } from '../../src/audit/read.js'
import { breakAuditHead } from '../support/audit.js'
import { client, testBroker, type TestBroker } from '../helper.js'
import { redisServer, type RedisServer } from '../support/redis-server.js'

let redis: RedisServer
let admin: Redis
let t: TestBroker
let api: ReturnType<typeof client>

beforeAll(async () => {
  redis = await redisServer()
  admin = new Redis(redis.url)
  t = await testBroker({ redisUrl: redis.url })
  api = client(t.app, t.keys)
}, 30_000)

afterAll(async () => {
  admin?.disconnect()
  await t?.close()
  await redis?.stop()
})

/** Every event of the stored log about `sid`, oldest first. */
async function stored(sid: string): Promise<AuditEvent[]> {
  const rows = await t.broker.store.readAudit({ count: 10_000 })
  return rows.map((r) => JSON.parse(r.json) as AuditEvent).filter((e) => e.session_id === sid)
}

/** Calls of each command Redis ran so far (INFO commandstats). */
async function commandCalls(): Promise<Record<string, number>> {
  const info = await admin.info('commandstats')
  const out: Record<string, number> = {}
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1] as string] = Number(m[2])
  return out
}

const active = async () => (await api.issue('build-bot')).session.id as string

describe('an operator revoke', () => {
  it('writes the revocation and its event in one script call', async () => {
    const sid = await active()
    const before = await commandCalls()
    const r = await api.del(`/v1/sessions/${sid}`, 'ops')
    const after = await commandCalls()
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.session.status).toBe('revoked')
    // The change and its audit event in one script call (the compare-and-set and a separate
    // append would be two). A script's first call on this server is an EVAL, later ones EVALSHA.
    const scripts = (c: Record<string, number>) => (c.eval ?? 0) + (c.evalsha ?? 0)
    expect(scripts(after) - scripts(before)).toBe(1)

    const events = await stored(sid)
    expect(events.map((e) => e.type)).toEqual(['session.issued', 'session.revoked'])
    expect(events[1]).toMatchObject({
      actor: 'ops',
      details: {
        agent: 'build-bot',
        status: 'revoked',
        from: 'active',
        reason: 'revoked by an operator',
      },
    })
    expect(events[1]?.details).not.toHaveProperty('late')
    expect(await verifyAuditLog(t.broker.store)).toMatchObject({ ok: true, problems: [] })
  })
})

describe('a revoke while the audit log cannot be written', () => {
  let restore: (() => Promise<void>) | null = null
  /** Every audit append fails inside Redis, before it writes anything (see breakAuditHead). */
  const breakAudit = async () => {
    const undo = await breakAuditHead(admin, t.prefix, t.broker.chain)
    restore = async () => {
      await undo()
      restore = null
    }
  }
  afterEach(async () => restore?.())

  it('revokes at once, and writes the event late, once, when the log takes events again', async () => {
    const issued = await api.issue('build-bot')
    const sid = issued.session.id as string
    await breakAudit()
    const r = await api.del(`/v1/sessions/${sid}`, 'ops')
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.session.status).toBe('revoked')
    expect((await api.get(`/v1/sessions/${sid}`, 'ops')).body.status).toBe('revoked')
    const seen = await api.post('/v1/introspect', 'ops', { token: issued.grant.token })
    expect(seen.body.active).toBe(false)
    expect(
      t.logs.lines.filter((l) => l.includes(sid) && l.includes('audit log cannot be written')),
    ).toHaveLength(1)
    // Idempotent meanwhile: nothing more is owed.
    expect((await api.del(`/v1/sessions/${sid}`, 'ops')).status).toBe(200)

    await restore?.()
    await vi.waitFor(
      async () => expect((await stored(sid)).map((e) => e.type)).toContain('session.revoked'),
      { timeout: 15_000, interval: 200 },
    )
    const events = await stored(sid)
    expect(events.map((e) => e.type)).toEqual(['session.issued', 'session.revoked'])
    const late = events[1] as AuditEvent
    expect(late).toMatchObject({
      actor: 'ops',
      details: { status: 'revoked', from: 'active', reason: 'revoked by an operator', late: true },
    })
    const endedAt = Date.parse(late.details.ended_at as string)
    expect(endedAt).toBeLessThanOrEqual(Date.parse(late.at))
    expect(new Date(endedAt).toISOString()).toBe(late.details.ended_at)
    expect(t.audit.filter((l) => l.includes(sid) && l.includes('session.revoked'))).toHaveLength(1)
    expect(await verifyAuditLog(t.broker.store)).toMatchObject({ ok: true, problems: [] })
  }, 30_000)
})
