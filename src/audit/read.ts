// Reading the audit stream back: parsing, filtering for GET /v1/audit, and whole-log verification.
import type { AuditStore } from '../store/types.js'
import { verifyChains, type AuditEvent, type VerifyResult } from './chain.js'

export const parseAuditJson = (json: string): AuditEvent => JSON.parse(json) as AuditEvent

export interface AuditQuery {
  session_id?: string
  agent?: string
  sinceMs?: number
  limit: number
}

/** Newest first, scanning a bounded window of the stream. */
export async function queryAudit(store: AuditStore, q: AuditQuery): Promise<AuditEvent[]> {
  const out: AuditEvent[] = []
  let after: string | undefined
  for (let scanned = 0; out.length < q.limit && scanned < 50_000;) {
    const rows = await store.readAudit({ afterPos: after, sinceMs: q.sinceMs, count: 1000, reverse: true })
    if (rows.length === 0) break
    scanned += rows.length
    for (const row of rows) {
      const e = parseAuditJson(row.json)
      const agent = e.details['agent']
      if (q.session_id !== undefined && e.session_id !== q.session_id) continue
      if (q.agent !== undefined && e.actor !== q.agent && agent !== q.agent) continue
      out.push(e)
      if (out.length === q.limit) break
    }
    after = rows.at(-1)?.pos
  }
  return out
}

/** Reads the whole retained log and checks every chain against its anchors and recorded heads. */
export async function verifyAuditLog(
  store: AuditStore,
  extraHeads: Record<string, { seq: number; hash: string }> = {},
): Promise<VerifyResult> {
  const events: AuditEvent[] = []
  let after: string | undefined
  for (;;) {
    const rows = await store.readAudit({ afterPos: after, count: 5000 })
    if (rows.length === 0) break
    for (const r of rows) events.push(parseAuditJson(r.json))
    after = rows.at(-1)?.pos
  }
  const anchors = await store.auditAnchors()
  const heads: Record<string, { seq: number; hash: string }> = {}
  for (const chain of new Set([...events.map((e) => e.chain), ...Object.keys(extraHeads)])) {
    const h = await store.auditHead(chain)
    if (h) heads[chain] = h
  }
  const result = verifyChains(events, anchors, heads)
  if (Object.keys(extraHeads).length === 0) return result
  // Checkpoints are checked on their own, not merged with the stored heads by seq: whoever can
  // rewrite the stream can rewrite a head key too (same seq or later), and a checkpoint must still bind.
  const checked = verifyChains(
    events.filter((e) => Object.hasOwn(extraHeads, e.chain) || e.type === 'audit.chain_continued'),
    anchors,
    extraHeads,
  )
  const problems = [...new Set([...result.problems, ...checked.problems])]
  const notes = [...new Set([...result.notes, ...checked.notes])]
  return { ...result, ok: problems.length === 0, problems, notes }
}
