// The two forms a session record is kept in by the Redis store: compact (with its profile kept
// once for the sessions sharing it) and JSON, the form every earlier version wrote. A broker
// upgraded in place reads, changes and expires records of both forms.
import { randomBytes } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest'
import type { SessionRecord } from '../../src/domain/index.js'
import { StoreUnavailableError } from '../../src/errors.js'
import { encodeRecord } from '../../src/store/codec.js'
import { redisKeys } from '../../src/store/keys.js'
import { createRedisStore, type RedisStore } from '../../src/store/redis.js'
import type { SessionUpdate } from '../../src/store/types.js'
import { deletePrefix } from '../helper.js'
import { makeRec } from '../support/records.js'

const DAY = 86_400_000
const EMPTY = ['on_behalf_of', 'justification', 'denied_by', 'revoked_by', 'revoked_at', 'jti', 'handle']

/** A record's JSON as the previous version wrote it: v, id, status first, empty fields left out. */
function previousForm(rec: SessionRecord): string {
  const out: Record<string, unknown> = { v: rec.v, id: rec.id, status: rec.status }
  for (const [k, v] of Object.entries(rec)) {
    if (k === 'v' || k === 'id' || k === 'status') continue
    const empty = v === null || (Array.isArray(v) && v.length === 0)
    if (empty && (EMPTY.includes(k) || k === 'approvals' || k === 'eligible_approvers')) continue
    out[k] = v
  }
  return JSON.stringify(out)
}

describe('redis store: record forms', () => {
  let store: RedisStore
  let prefix: string
  const k = () => redisKeys(prefix)
  const stored = (id: string) => store.redis.get(k().session(id))

  beforeEach(async () => {
    prefix = `airlock-test:${randomBytes(6).toString('hex')}:`
    store = await createRedisStore(inject('redisUrl'), prefix)
  })
  afterEach(async () => {
    await store.close()
    await deletePrefix(inject('redisUrl'), prefix)
  })

  it('keeps a typical record compactly and reads it back whole', async () => {
    const now = Date.now()
    const recs = [
      makeRec(now),
      makeRec(now, {
        status: 'active',
        jti: 'y71gvKIAiJECA6jxaeCINA',
        handle: {},
        action: null,
        action_digest: null,
      }),
      makeRec(now, {
        status: 'revoked',
        revoked_by: 'ops',
        revoked_at: now + 5000,
        on_behalf_of: 'dana',
        denied_by: null,
        task: { id: 'T-2', description: null },
        justification: 'naïve “quotes” ✓',
        owners: [],
        eligible_approvers: [],
        approvals: [],
        approvals_required: 0,
        action: { method: 'POST', path: '/x', body: { a: [1, 'two'] } },
        action_digest: 'abc',
      }),
    ]
    for (const r of recs) expect(await store.createSession(r, DAY, now)).toBe('ok')
    for (const r of recs) {
      const text = (await stored(r.id)) as string
      expect(text.startsWith('\x01')).toBe(true)
      expect(text).not.toContain(r.id)
      expect(text).toBe(encodeRecord(r))
    }
    // An issued session that needed no approval: its value fits Redis's 128-byte allocation.
    const issued = makeRec(now, {
      status: 'active',
      approvals: [],
      approvals_required: 0,
      justification: null,
      jti: 'y71gvKIAiJECA6jxaeCINA',
      handle: {},
      action: null,
      action_digest: null,
      ttl_seconds: 3600,
      expires_at: now + 3_600_000,
    })
    expect(await store.createSession(issued, DAY, now)).toBe('ok')
    expect(Buffer.byteLength((await stored(issued.id)) as string)).toBeLessThanOrEqual(124)
    expect(await store.getSessions(recs.map((r) => r.id))).toEqual(recs)
    // Another replica (an empty profile cache) reads them too.
    const peer = await createRedisStore(inject('redisUrl'), prefix)
    try {
      expect(await peer.getSession(recs[2]!.id)).toEqual(recs[2])
      expect(
        (
          await peer.introspect(
            recs[1]!.id,
            { agent: 'build-bot', environment: 'staging', provider: 'internal-api', task_id: 'JIRA-1' },
            now,
          )
        ).rec,
      ).toEqual(recs[1])
    } finally {
      await peer.close()
    }
  })

  it('sessions of one profile share one profile key, kept as long as their records', async () => {
    const now = Date.now()
    const a = makeRec(now)
    const b = makeRec(now, { expires_at: now + 2 * DAY, task: { id: 'T-9', description: null } })
    expect(await store.createSession(a, DAY, now)).toBe('ok')
    expect(await store.createSession(b, DAY, now)).toBe('ok')
    const profiles = await store.redis.keys(`${prefix}{al}:sp:*`)
    expect(profiles).toHaveLength(1)
    const [recTtl, profileTtl] = await Promise.all([
      store.redis.pttl(k().session(b.id)),
      store.redis.pttl(profiles[0] as string),
    ])
    expect(profileTtl).toBeGreaterThanOrEqual(recTtl)
  })

  it('a profile lost with a failover fails reads closed, and is written again after reconnecting', async () => {
    const now = Date.now()
    const a = makeRec(now)
    expect(await store.createSession(a, DAY, now)).toBe('ok')
    // What a failover can do: the promoted replica never received the profile.
    const [profile] = await store.redis.keys(`${prefix}{al}:sp:*`)
    await store.redis.del(profile as string)
    const peer = await createRedisStore(inject('redisUrl'), prefix)
    try {
      await expect(peer.getSession(a.id)).rejects.toBeInstanceOf(StoreUnavailableError)
      // The writer reconnects (as it does to a new primary) and no longer trusts what it wrote.
      const ready = new Promise((resolve) => store.redis.once('ready', resolve))
      store.redis.disconnect(true)
      await ready
      const b = makeRec(now, { task: { id: 'T-2', description: null } })
      expect(await store.createSession(b, DAY, now)).toBe('ok')
      expect(await peer.getSession(a.id)).toEqual(a)
    } finally {
      await peer.close()
    }
  })

  it('keeps a record this form cannot hold exactly as JSON', async () => {
    const now = Date.now()
    const recs = [
      makeRec(now, { justification: '' }),
      makeRec(now, { task: { id: 'T\x1f1', description: 'x' } }),
      makeRec(now, { owners: [''] }),
      makeRec(now, { rule: 'line\nbreak' }),
    ]
    for (const r of recs) expect(await store.createSession(r, DAY, now)).toBe('ok')
    for (const r of recs) expect(((await stored(r.id)) as string).startsWith('{')).toBe(true)
    expect(await store.getSessions(recs.map((r) => r.id))).toEqual(recs)
  })

  it('reads, changes and expires records the previous version wrote', async () => {
    const now = Date.now()
    const old = [
      makeRec(now, { status: 'active', jti: 'j1', expires_at: now - 1000, approvals: [] }),
      makeRec(now, { status: 'active', jti: 'j2', expires_at: now + DAY }),
      makeRec(now, { status: 'pending_approval', expires_at: now - 1000, handle: null }),
    ]
    for (const r of old) {
      await store.redis
        .multi()
        .set(k().session(r.id), previousForm(r), 'PXAT', r.expires_at + DAY)
        .zadd(k().deadlines, r.expires_at, r.id)
        .zadd(k().created, r.created_at, r.id)
        .exec()
    }
    expect(await store.getSessions(old.map((r) => r.id))).toEqual(old)
    const { ids } = await store.listSessionIds(null, 10)
    expect(ids.sort()).toEqual(old.map((r) => r.id).sort())

    // A change writes the compact form.
    const revoked = { ...old[1]!, v: 1, status: 'revoked' as const, revoked_by: 'ops', revoked_at: now }
    expect(await store.casSession(revoked, 0, { checkLocks: false, retentionMs: DAY, now })).toBe('ok')
    expect(((await stored(revoked.id)) as string).startsWith('\x01')).toBe(true)
    expect(await store.getSession(revoked.id)).toEqual(revoked)
    expect(await store.casSession(revoked, 0, { checkLocks: false, retentionMs: DAY, now })).toBe('conflict')

    // The sweeper's status-only expiry rewrites an old record's JSON in place.
    const due = [old[0]!, old[2]!]
    const { recs: claimed } = await store.claimDue(
      due.map((r) => r.id),
      now,
      now + 15_000,
    )
    expect(claimed).toEqual(due)
    const updates: SessionUpdate[] = claimed.map((r) => ({
      rec: { ...r, v: r.v + 1, status: 'expired' },
      expectedV: r.v,
      retentionMs: DAY,
      from: ['active', 'pending_approval'],
      statusOnly: true,
    }))
    expect(
      await store.appendAudit('main', null, { seq: 2, hash: 'h' }, ['{"a":1}', '{"a":2}'], DAY, {
        sessions: [],
        updates,
        now,
      }),
    ).toBe('ok')
    expect(await store.getSessions(due.map((r) => r.id))).toEqual(updates.map((u) => u.rec))
    expect(await stored(due[0]!.id)).toBe(previousForm(updates[0]!.rec))
    expect(await store.countLive()).toEqual({ live: 0, pending: 0 })
  })

  it('the gateway action is used once on an active record of either form', async () => {
    const now = Date.now()
    const fresh = makeRec(now, { status: 'active', jti: 'j', expires_at: now + DAY })
    const old = makeRec(now, { status: 'active', jti: 'j', expires_at: now + DAY })
    const ended = makeRec(now, { status: 'expired', jti: 'j' })
    expect(await store.createSession(fresh, DAY, now)).toBe('ok')
    expect(await store.createSession(ended, DAY, now)).toBe('ok')
    await store.redis.set(k().session(old.id), previousForm(old), 'PXAT', now + 2 * DAY)
    for (const r of [fresh, old]) {
      expect(await store.useAction(r.id, now + DAY)).toBe(true)
      expect(await store.useAction(r.id, now + DAY)).toBe(false)
    }
    expect(await store.useAction(ended.id, now + DAY)).toBe(false)
  })
})
