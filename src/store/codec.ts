// Small encodings: a chain head ("seq:hash"), the opaque listing cursor, and a session record as
// Redis keeps it: compact (record-codec.ts) when it can be, else JSON (all earlier versions wrote).
import type { SessionRecord } from '../domain/session.js'
import { err } from '../errors.js'
import { packRecord, type Packed } from './record-codec.js'
import type { ChainHead } from './types.js'

/** Fields most records leave empty, left out of the stored JSON (Redis memory) and read back as this. */
const EMPTY_FIELDS = [
  'on_behalf_of',
  'justification',
  'denied_by',
  'revoked_by',
  'revoked_at',
  'jti',
  'handle',
  'approvals',
  'eligible_approvers',
] as const
const EMPTY = new Set<string>(EMPTY_FIELDS)

/** The record as Redis keeps it, and the profile that has to be kept with it (compact form). */
export const storedRecord = (rec: SessionRecord): Packed =>
  packRecord(rec) ?? { text: jsonRecord(rec), profile: null }

/** The text Redis keeps for a record. */
export const encodeRecord = (rec: SessionRecord): string => storedRecord(rec).text

/** The record's JSON without its empty fields. */
function jsonRecord(rec: SessionRecord): string {
  // v, id and status lead, in this order: the scripts read the version and the status there.
  const out: Record<string, unknown> = { v: rec.v, id: rec.id, status: rec.status }
  for (const [k, v] of Object.entries(rec)) {
    if (k === 'v' || k === 'id' || k === 'status') continue
    if (EMPTY.has(k) && (v === null || (Array.isArray(v) && v.length === 0))) continue
    out[k] = v
  }
  return JSON.stringify(out)
}

/** A record kept as JSON. */
export function decodeRecord(json: string): SessionRecord {
  const r = JSON.parse(json) as Record<string, unknown>
  for (const k of EMPTY_FIELDS) {
    if (r[k] === undefined) r[k] = k === 'approvals' || k === 'eligible_approvers' ? [] : null
  }
  return r as unknown as SessionRecord
}

export function parseHead(raw: string | null | undefined): ChainHead | null {
  if (!raw) return null
  const i = raw.indexOf(':')
  return { seq: Number(raw.slice(0, i)), hash: raw.slice(i + 1) }
}

export const encodeCursor = (ms: number, id: string): string =>
  Buffer.from(`${ms}:${id}`).toString('base64url')

export function decodeCursor(cursor: string): [number, string] {
  const raw = Buffer.from(cursor, 'base64url').toString()
  const i = raw.indexOf(':')
  const ms = Number(raw.slice(0, i))
  // A malformed cursor is the caller's mistake, never a store failure.
  if (i < 1 || !Number.isFinite(ms))
    throw err.invalid('querystring/cursor is not a cursor this server issued')
  return [ms, raw.slice(i + 1)]
}
