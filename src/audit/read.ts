// Reading the audit stream back: parsing, filtering for GET /v1/audit, and verifying the whole log
// as a stream.
import { setImmediate } from 'node:timers/promises'
import type { AuditStore, ChainHead } from '../store/types.js'
import type { AuditEvent } from './chain.js'
import { ChainVerifier, type VerifyResult } from './verify.js'

/**
 * The event a stored row holds, or null when it holds none (garbage or a damaged entry): readers
 * skip it, verification reports it, trimming deletes it with its neighbours.
 */
export function readAuditEvent(json: string): AuditEvent | null {
  let e: Partial<AuditEvent> | null
  try {
    e = JSON.parse(json) as Partial<AuditEvent> | null
  } catch {
    return null
  }
  const ok =
    typeof e === 'object' &&
    e !== null &&
    typeof e.chain === 'string' &&
    Number.isSafeInteger(e.seq) &&
    typeof e.hash === 'string' &&
    typeof e.details === 'object' &&
    e.details !== null
  return ok ? (e as AuditEvent) : null
}

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
      const e = readAuditEvent(row.json)
      if (!e) continue
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

/** Events per read while verifying: one page is hashed between two turns of the event loop. */
export const VERIFY_PAGE = 500

export interface VerifyProgress {
  events: number
  chains: number
}

/**
 * Reads the retained log oldest first in pages of VERIFY_PAGE and checks every chain against its
 * anchors, its recorded head and the checkpoints in `extraHeads`. Never holds more than a page
 * (and a few numbers per chain); yields to the event loop after each page, so a broker serving
 * this stays responsive. A chain's recorded head is read when the chain first shows up, so
 * events appended meanwhile are never mistaken for a deleted tail.
 */
export async function verifyAuditLog(
  store: AuditStore,
  extraHeads: Record<string, ChainHead> = {},
  onProgress?: (p: VerifyProgress) => void,
): Promise<VerifyResult> {
  const anchors = await store.auditAnchors()
  // Set 0: the store's recorded heads; set 1: the checkpoints, checked on their own (whoever can
  // rewrite the stream can rewrite a head key too, and a checkpoint must still bind).
  const v = new ChainVerifier(anchors, [{}, extraHeads])
  const known = new Set<string>()
  const learn = async (chain: string) => {
    known.add(chain)
    const h = await store.auditHead(chain)
    if (h) v.setHead(0, chain, h)
  }
  for (const chain of Object.keys(extraHeads)) await learn(chain)
  let after: string | undefined
  for (;;) {
    const rows = await store.readAudit({ afterPos: after, count: VERIFY_PAGE })
    if (rows.length === 0) break
    const page: AuditEvent[] = []
    for (const r of rows) {
      const e = readAuditEvent(r.json)
      // What no chain can hold is reported where it is, and the rest is still verified.
      if (e) page.push(e)
      else v.unreadable(r.pos)
    }
    for (const e of page) if (!known.has(e.chain)) await learn(e.chain)
    for (const e of page) v.add(e)
    after = rows.at(-1)?.pos
    onProgress?.({ events: v.eventsSeen, chains: known.size })
    await setImmediate()
  }
  return v.finish()
}
