// The audit log in memory; an append creates or changes sessions as redis/audit.ts does, and
// announces the sessions it creates (`announce`: the change feed).
import { scopeOf } from '../../domain/session.js'
import { lineOf } from '../audit-codec.js'
import { parseHead } from '../codec.js'
import type { AppendResult, AuditStore, ChainHead, StoredAuditEvent, WriteResult } from '../types.js'
import type { MemoryState } from './state.js'

export function memoryAudit(state: MemoryState, announce: (sessionId: string) => void): AuditStore {
  const { clock, read, locked, createCheck, write, replace } = state
  const audit: { pos: string; json: string; ms: number }[] = []
  const heads = new Map<string, string>()
  const anchors = new Map<string, ChainHead>()
  let auditSeq = 0
  return {
    async auditHead(chain) {
      return parseHead(heads.get(chain))
    },
    async appendAudit(chain, expected, next, events, _retentionMs, creates): Promise<AppendResult> {
      const head = heads.get(chain)
      if (expected === null ? head !== undefined : head !== `${expected.seq}:${expected.hash}`)
        return 'conflict'
      const sessions = creates?.sessions ?? []
      const updates = creates?.updates ?? []
      const refused: { index: number; result: Exclude<WriteResult, 'ok'> }[] = []
      sessions.forEach(({ rec }, index) => {
        const r = createCheck(rec, creates?.now ?? 0)
        if (r !== 'ok') refused.push({ index, result: r })
      })
      updates.forEach(({ rec, expectedV, from, checkLocks }, i) => {
        const cur = read(rec.id)
        const why = !cur
          ? 'missing'
          : cur.v !== expectedV
            ? 'conflict'
            : from && !from.includes(cur.status)
              ? 'refused'
              : checkLocks && locked(scopeOf(rec), creates?.now ?? 0)
                ? 'locked'
                : null
        if (why) refused.push({ index: sessions.length + i, result: why })
      })
      if (refused.length > 0) return { refused }
      for (const { rec, retentionMs } of sessions) write(rec, retentionMs)
      for (const { rec, retentionMs } of updates) replace(rec, retentionMs)
      const ms = clock.now()
      for (const e of events) audit.push({ pos: `${ms}-${auditSeq++}`, json: lineOf(e), ms })
      heads.set(chain, `${next.seq}:${next.hash}`)
      for (const { rec } of sessions) announce(rec.id)
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
        const prev = a && anchors.get(a.chain)
        if (a && (!prev || prev.seq < a.seq)) anchors.set(a.chain, { seq: a.seq, hash: a.hash })
        audit.shift()
        n++
      }
      return n
    },
    async auditAnchors() {
      return Object.fromEntries(anchors)
    },
  }
}
