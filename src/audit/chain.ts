// The audit hash chain exactly as docs/operations-audit.md describes it: per broker process, SHA-256 over canonical
// JSON (keys sorted, without `hash`), prev_hash of 64 zeros to start.
import { hash } from 'node:crypto'
import type { EventParts } from '../store/types.js'

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
 * was stored, so an added or changed field breaks the chain. `parts` are the fields the line was
 * made of (null when it has another layout), for a store that keeps events by field.
 */
export function sealEvent(e: Omit<AuditEvent, 'hash'>): {
  hash: string
  line: string
  parts: EventParts | null
} {
  if (!hasWriterShape(e)) {
    const hash = hashEvent(e)
    return { hash, line: JSON.stringify({ ...e, hash }), parts: null }
  }
  const s = JSON.stringify
  const details = canonicalJson(e.details)
  const canon =
    `{"actor":${s(e.actor)},"at":${s(e.at)},"chain":${s(e.chain)},"details":${details},` +
    `"prev_hash":${s(e.prev_hash)},"seq":${s(e.seq)},"session_id":${s(e.session_id)},"type":${s(e.type)}}`
  const hash = sha256Hex(canon)
  return { hash, line: `${canon.slice(0, -1)},"hash":"${hash}"}`, parts: { ...e, details, hash } }
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

// Verification lives with the streaming verifier; the in-memory form stays importable from here.
export { verifyChains, type VerifyResult } from './verify.js'
