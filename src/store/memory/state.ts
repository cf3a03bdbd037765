// The in-memory store's shared state: session records with their indexes, and locks.
import {
  isFinal,
  lockCovers,
  scopeOf,
  type Lock,
  type LockScope,
  type SessionRecord,
} from '../../domain/index.js'
import type { CreateResult } from '../types.js'

interface Entry {
  json: string
  expiresAt: number
}

export type MemoryState = ReturnType<typeof createMemoryState>

export function createMemoryState(clock: { now(): number }) {
  const sessions = new Map<string, Entry>()
  const deadlines = new Map<string, number>()
  const created = new Map<string, number>()
  const pending = new Set<string>()
  const locks = new Map<string, Lock>()

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

  return { clock, sessions, deadlines, created, pending, locks, read, locked, createCheck, replace, write }
}
