// In-memory store for `airlock dev` and single-process use. Same contract and tests as redis.ts;
// JavaScript runs each method to completion, which gives the same atomicity as the Lua scripts.
import type { Lock } from '../locks/model.js'
import { lockCovers } from '../locks/model.js'
import { decodeCursor, encodeCursor, parseHead } from './codec.js'
import { createWaiters } from './waiters.js'
import { memoryConsoleRecords } from './console-records.js'
import { isFinal, scopeOf, type LockScope, type SessionRecord } from '../sessions/model.js'
import type { AppendResult, CasResult, ChainHead, CreateResult, StoredAuditEvent, Store } from './types.js'

interface Entry {
  json: string
  expiresAt: number
}

export function createMemoryStore(clock: { now(): number } = { now: Date.now }): Store {
  const sessions = new Map<string, Entry>()
  const deadlines = new Map<string, number>()
  const created = new Map<string, number>()
  const pending = new Set<string>()
  const locks = new Map<string, Lock>()
  const audit: { pos: string; json: string; ms: number }[] = []
  const heads = new Map<string, string>()
  const anchors = new Map<string, ChainHead>()
  const leases = new Map<string, { owner: string; until: number }>()
  const waiters = createWaiters()
  const actionsUsed = new Map<string, number>()
  let auditSeq = 0

  const read = (id: string): SessionRecord | null => {
    const e = sessions.get(id)
    if (!e) return null
    if (e.expiresAt <= clock.now()) {
      sessions.delete(id)
      return null
    }
    return JSON.parse(e.json) as SessionRecord
  }
  const locked = (scope: LockScope, now: number) => [...locks.values()].some((l) => lockCovers(l, scope, now))
  const createCheck = (rec: SessionRecord, now: number): CreateResult =>
    read(rec.id) ? 'exists' : locked(scopeOf(rec), now) ? 'locked' : 'ok'
  const replace = (rec: SessionRecord, retentionMs: number) => {
    sessions.set(rec.id, { json: JSON.stringify(rec), expiresAt: rec.expires_at + retentionMs })
    index(rec)
  }
  const write = (rec: SessionRecord, retentionMs: number) => {
    created.set(rec.id, rec.created_at)
    replace(rec, retentionMs)
  }
  const index = (r: SessionRecord) => {
    if (isFinal(r.status)) deadlines.delete(r.id)
    else deadlines.set(r.id, r.expires_at)
    if (r.status === 'pending_approval') pending.add(r.id)
    else pending.delete(r.id)
  }

  return {
    kind: 'memory',
    async ping() {},
    async confirmWrites() {},
    async close() {
      waiters.wakeAll()
    },

    async createSession(rec, retentionMs, now): Promise<CreateResult> {
      const r = createCheck(rec, now)
      if (r === 'ok') write(rec, retentionMs)
      return r
    },
    async getSession(id) {
      return read(id)
    },
    async getSessions(ids) {
      return ids.map(read)
    },
    async introspect(id, scope, now) {
      return { rec: read(id), locked: locked(scope, now) }
    },
    async useAction(id, keepUntil) {
      const now = clock.now()
      for (const [k, until] of actionsUsed) if (until <= now) actionsUsed.delete(k)
      if (read(id)?.status !== 'active' || actionsUsed.has(id)) return false
      actionsUsed.set(id, keepUntil)
      return true
    },
    async casSession(next, expectedV, { checkLocks, retentionMs, now }): Promise<CasResult> {
      const cur = read(next.id)
      if (!cur) return 'missing'
      if (cur.v !== expectedV) return 'conflict'
      if (checkLocks && locked(scopeOf(next), now)) return 'locked'
      replace(next, retentionMs)
      return 'ok'
    },
    cursorAfter: (rec) => encodeCursor(rec.created_at, rec.id),
    async listSessionIds(cursor, limit) {
      const all = [...created.entries()].sort((a, b) => b[1] - a[1] || (b[0] < a[0] ? -1 : 1))
      let start = 0
      if (cursor) {
        const [ms, id] = decodeCursor(cursor)
        start = all.findIndex(([i, s]) => s < ms || (s === ms && i < id))
        if (start < 0) start = all.length
      }
      const page = all.slice(start, start + limit)
      const last = page.at(-1)
      return {
        ids: page.map(([id]) => id),
        next:
          page.length === limit && last && start + limit < all.length ? encodeCursor(last[1], last[0]) : null,
      }
    },
    async dueSessionIds(now, limit) {
      return [...deadlines.entries()]
        .filter(([, d]) => d <= now)
        .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, limit)
        .map(([id]) => id)
    },
    async claimDue(ids, now, until) {
      const recs: SessionRecord[] = []
      let dropped = 0
      for (const id of ids) {
        const due = deadlines.get(id)
        if (due === undefined || due > now) continue
        const rec = read(id)
        if (rec) {
          deadlines.set(id, until)
          recs.push(rec)
        } else {
          deadlines.delete(id)
          pending.delete(id)
          created.delete(id)
          dropped++
        }
      }
      return { recs, dropped }
    },
    async expiryLag(now) {
      let due = 0
      let oldestDeadline: number | null = null
      for (const d of deadlines.values()) {
        if (d > now) continue
        due++
        if (oldestDeadline === null || d < oldestDeadline) oldestDeadline = d
      }
      return { due, oldestDeadline }
    },
    async liveSessionIds() {
      return [...deadlines.keys()]
    },
    async countLive() {
      return { live: deadlines.size, pending: pending.size }
    },
    async trimSessionIndex(before) {
      let n = 0
      for (const [id, ms] of created) {
        if (ms < before && !sessions.has(id)) {
          created.delete(id)
          n++
        }
      }
      return n
    },

    async putLock(lock) {
      locks.set(lock.id, lock)
    },
    async deleteLock(id) {
      const l = locks.get(id) ?? null
      locks.delete(id)
      return l
    },
    async listLocks() {
      return [...locks.values()]
    },

    async auditHead(chain) {
      return parseHead(heads.get(chain))
    },
    async appendAudit(chain, expected, next, events, _retentionMs, creates): Promise<AppendResult> {
      const head = heads.get(chain)
      if (expected === null ? head !== undefined : head !== `${expected.seq}:${expected.hash}`)
        return 'conflict'
      const sessions = creates?.sessions ?? []
      const updates = creates?.updates ?? []
      const refused: { index: number; result: 'locked' | 'exists' | 'missing' | 'conflict' }[] = []
      sessions.forEach(({ rec }, index) => {
        const r = createCheck(rec, creates?.now ?? 0)
        if (r !== 'ok') refused.push({ index, result: r })
      })
      updates.forEach(({ rec, expectedV }, i) => {
        const cur = read(rec.id)
        if (!cur || cur.v !== expectedV)
          refused.push({ index: sessions.length + i, result: cur ? 'conflict' : 'missing' })
      })
      if (refused.length > 0) return { refused }
      for (const { rec, retentionMs } of sessions) write(rec, retentionMs)
      for (const { rec, retentionMs } of updates) replace(rec, retentionMs)
      const ms = clock.now()
      for (const json of events) audit.push({ pos: `${ms}-${auditSeq++}`, json, ms })
      heads.set(chain, `${next.seq}:${next.hash}`)
      return 'ok'
    },
    async readAudit({ afterPos, sinceMs, count, reverse }): Promise<StoredAuditEvent[]> {
      let list = audit.filter((e) => sinceMs === undefined || e.ms >= sinceMs)
      if (afterPos !== undefined) {
        const i = list.findIndex((e) => e.pos === afterPos)
        list = reverse ? list.slice(0, Math.max(i, 0)) : list.slice(i + 1)
      }
      if (reverse) list = [...list].reverse()
      return list.slice(0, count).map(({ pos, json }) => ({ pos, json }))
    },
    async trimAudit(beforeMs, anchorOf, limit = Infinity) {
      let n = 0
      while (n < limit && audit.length > 0 && (audit[0] as { ms: number }).ms < beforeMs) {
        const e = audit[0] as { json: string }
        const a = anchorOf(e.json)
        const prev = anchors.get(a.chain)
        if (!prev || prev.seq < a.seq) anchors.set(a.chain, { seq: a.seq, hash: a.hash })
        audit.shift()
        n++
      }
      return n
    },
    async auditAnchors() {
      return Object.fromEntries(anchors)
    },

    async acquireLease(name, owner, ttlMs) {
      const now = clock.now()
      const cur = leases.get(name)
      if (cur && cur.until > now && cur.owner !== owner) return false
      leases.set(name, { owner, until: now + ttlMs })
      return true
    },

    ...memoryConsoleRecords(clock),

    publishChange(sessionId) {
      waiters.wake(sessionId)
    },
    async watchChange(sessionId, ms, signal) {
      return { changed: waiters.wait(sessionId, ms, signal) }
    },
  }
}
