// The audit hash chain exactly as API.md defines it: per broker process, SHA-256 over canonical
// JSON (keys sorted, without `hash`), prev_hash of 64 zeros to start.
import { hash } from 'node:crypto'
import type { ChainHead } from '../store/types.js'

export const ZERO_HASH = '0'.repeat(64)

export interface AuditEvent {
  chain: string
  seq: number
  at: string
  type: string
  actor: string
  session_id: string | null
  details: Record<string, unknown>
  hash: string
  prev_hash: string
}

export function canonicalJson(value: unknown): string {
  // Hash what JSON.stringify would store (a Date as its string), so verification recomputes it.
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  ) {
    return canonicalJson((value as { toJSON: () => unknown }).toJSON())
  }
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i]
      out += `${i === 0 ? '' : ','}${v === undefined ? 'null' : canonicalJson(v)}`
    }
    return `${out}]`
  }
  const obj = value as Record<string, unknown>
  let out = '{'
  for (const k of Object.keys(obj).sort()) {
    const v = obj[k]
    if (v === undefined) continue
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`
  }
  return `${out}}`
}

export function hashEvent(e: Omit<AuditEvent, 'hash'>): string {
  return sha256Hex(canonicalJson(e))
}

// One-shot hashing: no Hash object per event.
const sha256Hex = (s: string) => hash('sha256', s, 'hex')

/**
 * The writer's fast path: the canonical JSON of an event it builds (exactly AuditEvent's fields,
 * none undefined) with the top-level keys written in sorted order instead of sorted at run time,
 * and the stored line made from the same string. Verification still uses hashEvent on whatever
 * was stored, so an added or changed field breaks the chain.
 */
export function sealEvent(e: Omit<AuditEvent, 'hash'>): { hash: string; line: string } {
  if (!hasWriterShape(e)) {
    const hash = hashEvent(e)
    return { hash, line: JSON.stringify({ ...e, hash }) }
  }
  const s = JSON.stringify
  const canon =
    `{"actor":${s(e.actor)},"at":${s(e.at)},"chain":${s(e.chain)},"details":${canonicalJson(e.details)},` +
    `"prev_hash":${s(e.prev_hash)},"seq":${s(e.seq)},"session_id":${s(e.session_id)},"type":${s(e.type)}}`
  const hash = sha256Hex(canon)
  return { hash, line: `${canon.slice(0, -1)},"hash":"${hash}"}` }
}

const hasWriterShape = (e: Omit<AuditEvent, 'hash'>): boolean =>
  typeof e.actor === 'string' &&
  typeof e.at === 'string' &&
  typeof e.chain === 'string' &&
  typeof e.prev_hash === 'string' &&
  typeof e.type === 'string' &&
  Number.isSafeInteger(e.seq) &&
  (e.session_id === null || typeof e.session_id === 'string') &&
  typeof e.details === 'object' &&
  e.details !== null

export interface VerifyResult {
  ok: boolean
  events: number
  chains: { chain: string; first: number; last: number }[]
  problems: string[]
  /** Explained gaps: a chain's end lost by the store and continued on a new chain. Not problems. */
  notes: string[]
}

interface Continuation {
  chain: string
  previousSeq: number
  previousHash: string
  storedSeq: number
}

/** `audit.chain_continued` events (a new chain's first event) by the chain they continue. */
function continuations(events: AuditEvent[]): Map<string, Continuation> {
  const out = new Map<string, Continuation>()
  for (const e of events) {
    if (e.type !== 'audit.chain_continued' || e.seq !== 1 || e.actor !== 'airlock') continue
    const d = e.details
    if (typeof d['previous_chain'] !== 'string' || typeof d['previous_seq'] !== 'number') continue
    out.set(d['previous_chain'], {
      chain: e.chain,
      previousSeq: d['previous_seq'],
      previousHash: typeof d['previous_hash'] === 'string' ? d['previous_hash'] : '',
      storedSeq: typeof d['stored_seq'] === 'number' ? d['stored_seq'] : 0,
    })
  }
  return out
}

/**
 * Checks every chain: each hash recomputes, seq counts up by one, prev_hash links. A chain starts
 * at seq 1 with the zero hash, or right after its retention anchor. `heads` (the store's recorded
 * heads, or checkpoints from stdout) reveal a deleted tail.
 */
export function verifyChains(
  events: AuditEvent[],
  anchors: Record<string, ChainHead> = {},
  heads: Record<string, ChainHead> = {},
): VerifyResult {
  const problems: string[] = []
  const notes: string[] = []
  const continued = continuations(events)
  const byChain = new Map<string, AuditEvent[]>()
  for (const e of events) {
    const list = byChain.get(e.chain) ?? []
    list.push(e)
    byChain.set(e.chain, list)
  }
  const chains: VerifyResult['chains'] = []
  for (const [chain, all] of byChain) {
    const anchor = anchors[chain]
    const list = all.filter((e) => !anchor || e.seq > anchor.seq).sort((a, b) => a.seq - b.seq)
    let prevSeq = anchor?.seq ?? 0
    let prevHash = anchor?.hash ?? ZERO_HASH
    for (const e of list) {
      const { hash, ...rest } = e
      if (hashEvent(rest) !== hash)
        problems.push(`${chain} #${e.seq}: content does not match its hash (edited)`)
      if (e.seq !== prevSeq + 1)
        problems.push(`${chain}: events ${prevSeq + 1}..${e.seq - 1} are missing (deleted)`)
      else if (e.prev_hash !== prevHash)
        problems.push(`${chain} #${e.seq}: prev_hash does not link to #${prevSeq}`)
      prevSeq = e.seq
      prevHash = hash
    }
    chains.push({ chain, first: list[0]?.seq ?? 0, last: prevSeq })
  }
  for (const [chain, head] of Object.entries(heads)) {
    const seen = chains.find((c) => c.chain === chain)
    const last = seen?.last ?? anchors[chain]?.seq ?? 0
    const next = continued.get(chain)
    // The broker saw the store lose this chain's end, said up to where, and went on with a new chain.
    const explained =
      next !== undefined &&
      next.storedSeq === last &&
      (head.seq < next.previousSeq || (head.seq === next.previousSeq && head.hash === next.previousHash))
    if (head.seq > last && explained) {
      // Noted below with the other continuations.
    } else if (head.seq > last)
      problems.push(`${chain}: events ${last + 1}..${head.seq} are missing (tail deleted)`)
    else {
      const e = byChain.get(chain)?.find((x) => x.seq === head.seq)
      if (e && e.hash !== head.hash) problems.push(`${chain} #${head.seq}: does not match the recorded head`)
    }
  }
  for (const [chain, next] of continued) {
    const seen = chains.find((c) => c.chain === chain)
    const last = seen?.last ?? anchors[chain]?.seq ?? 0
    if (next.storedSeq === last && next.previousSeq > last)
      notes.push(
        `${chain}: events ${last + 1}..${next.previousSeq} were lost by the store (a failover or data loss); the broker printed them to its stdout and continued on chain ${next.chain}`,
      )
  }
  return { ok: problems.length === 0, events: events.length, chains, problems, notes }
}
