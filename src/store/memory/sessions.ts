// Session records in memory, behaving as redis/sessions.ts does.
import { scopeOf, type SessionRecord } from '../../domain/session.js'
import { decodeCursor, encodeCursor } from '../codec.js'
import type { CasResult, CreateResult, SessionStore } from '../types.js'
import type { MemoryState } from './state.js'

export function memorySessions(state: MemoryState): SessionStore {
  const { clock, deadlines, created, pending, read, locked, createCheck, replace, write } = state
  const actionsUsed = new Map<string, number>()
  return {
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
    async casSession(next, expectedV, { checkLocks, retentionMs, now, from }): Promise<CasResult> {
      const cur = read(next.id)
      if (!cur) return 'missing'
      if (cur.v !== expectedV) return 'conflict'
      if (from && !from.includes(cur.status)) return 'refused'
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
        // Gone: deleted, or past its retention (read drops it), as Redis expires the key.
        if (ms < before && read(id) === null) {
          created.delete(id)
          n++
        }
      }
      return n
    },
  }
}
