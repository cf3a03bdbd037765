// How the Redis store keeps an audit event. The audit writer's JSON has a fixed layout
// ({"actor","at","chain","details","prev_hash","seq","session_id","type","hash"}, in that order),
// so an event in it is kept compactly: hashes as 32 raw bytes, `at` as epoch ms, the top-level
// keys implied, and in the details' exact text each common key or value replaced by one control
// byte (JSON text never holds one raw). Reading rebuilds the very text the writer hashed, byte for
// byte; an event of any other layout is kept as its JSON text. Both forms sit in the stream's `e`
// field: JSON text starts with `{`, the compact form with its format byte.
import { iso } from '../domain/time.js'
import type { AuditLine, EventParts } from './types.js'

/** The compact form's first byte. Format 1 is tied to TOKENS: never change or reorder them. */
const FORMAT = 1
const FLAG_SESSION = 1
const FLAG_TOKENS = 2

/** What bytes 0x01.. stand for in the details of format 1 (at most 31; each must match FIND). */
const TOKENS = [
  '"agent":',
  '"approvals_required":',
  '"decision":',
  '"environment":',
  '"expires_at":',
  '"jti":',
  '"justification":',
  '"on_behalf_of":',
  '"operation_class":',
  '"provider":',
  '"status":',
  '"task_description":',
  '"task_id":',
  '"ttl_seconds":',
  '"from":',
  '"reason":',
  '"via":',
  '"eligible_approvers":',
  '"approvals":',
  '"comment":',
  '"rule":',
  '"by":',
  'null',
  '"active"',
  '"expired"',
  '"revoked"',
  '"pending_approval"',
  '"approved"',
  '"ttl elapsed"',
  '"staging"',
  '"read"',
] as const
const TOKEN_OF = new Map<string, string>(TOKENS.map((t, i) => [t, String.fromCharCode(i + 1)]))
/** Every token is a key, a short lower-case string or null: one pass finds the candidates. */
const FIND = /"[a-z_ ]{1,30}":?|null/g
const tokenize = (m: string): string => TOKEN_OF.get(m) ?? m
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f]/
// eslint-disable-next-line no-control-regex
const TOKEN = /[\x01-\x1f]/g

const HEX64 = /^[0-9a-f]{64}$/
const s = JSON.stringify
const head = (actor: string, at: string, chain: string) =>
  `{"actor":${s(actor)},"at":${s(at)},"chain":${s(chain)},"details":`
const tail = (prev: string, seq: number, session: string | null, type: string, hash: string) =>
  `,"prev_hash":"${prev}","seq":${seq},"session_id":${s(session)},"type":${s(type)},"hash":"${hash}"}`

/** The compact form of an event's JSON, or null when it does not have the writer's layout. */
export function encodeEvent(line: string): Buffer | null {
  const f = fields(line)
  if (!f) return null
  const h = head(f.actor, f.at, f.chain)
  const t = tail(f.prev_hash, f.seq, f.session_id, f.type, f.hash)
  // What is between them is the details' exact text, whatever it holds.
  if (line.length < h.length + t.length || !line.startsWith(h) || !line.endsWith(t)) return null
  return encodeParts({ ...f, details: line.slice(h.length, line.length - t.length) })
}

// eslint-disable-next-line no-control-regex
const MAY_ESCAPE = /["\\\x00-\x1f\ud800-\udfff]/
/** A string JSON writes as it is between quotes (no escape), as the compact form keeps it. */
const plain = (v: string): boolean => !MAY_ESCAPE.test(v) || JSON.stringify(v).length === v.length + 2

/** The last `at` found to be the ISO form of its ms: a batch's events share one. */
let checkedAt = { at: '', ms: 0 }
/** `at` as epoch ms when it is exactly the ISO form of them (what the compact form restores), else null. */
function msOf(at: string): number | null {
  if (at === checkedAt.at) return checkedAt.ms
  const ms = Date.parse(at)
  if (!(ms >= 0 && ms < 2 ** 48) || iso(ms) !== at) return null
  checkedAt = { at, ms }
  return ms
}

/**
 * The compact form from an event's fields, as the audit writer has them (the same bytes
 * encodeEvent makes of its line, without reading the line back); null when it has none.
 */
export function encodeParts(p: EventParts): Buffer | null {
  const { actor, chain, details, prev_hash: prev, seq, session_id: session, type, hash } = p
  if (!Number.isSafeInteger(seq) || seq < 0 || !HEX64.test(prev) || !HEX64.test(hash)) return null
  const ms = msOf(p.at)
  if (ms === null) return null
  if (!plain(actor) || !plain(chain) || !plain(type) || (session !== null && !plain(session))) return null
  // Raw control bytes are impossible inside JSON strings, but whitespace between tokens is not.
  const tokens = !CONTROL.test(details)
  const body = tokens ? details.replace(FIND, tokenize) : details
  const strings = session === null ? [chain, actor, type] : [chain, actor, type, session]
  let size = 2 + 64 + 6 + 9 + Buffer.byteLength(body)
  for (const x of strings) size += 5 + Buffer.byteLength(x)
  const out = Buffer.allocUnsafe(size)
  let o = 0
  out[o++] = FORMAT
  out[o++] = (session === null ? 0 : FLAG_SESSION) | (tokens ? FLAG_TOKENS : 0)
  o += out.write(prev, o, 'hex')
  o += out.write(hash, o, 'hex')
  o = out.writeUIntBE(ms, o, 6)
  o = varint(out, o, seq)
  for (const x of strings) {
    o = varint(out, o, Buffer.byteLength(x))
    o += out.write(x, o)
  }
  o += out.write(body, o)
  return out.subarray(0, o)
}

/**
 * The top-level fields of a line in the writer's layout, found by position (no JSON parse; the
 * writer itself hands its fields over); null when a field is not where that layout puts it. The
 * caller rebuilds the layout's text from them and compares, so a wrong guess is never stored.
 */
function fields(line: string): Omit<EventParts, 'details'> | null {
  // Strings holding a backslash (an escape) are left to the JSON text form.
  const str = (from: number): string | null => {
    const end = line.indexOf('"', from)
    if (end < 0) return null
    const v = line.slice(from, end)
    return v.includes('\\') ? null : v
  }
  if (!line.startsWith('{"actor":"')) return null
  const actor = str(10)
  if (actor === null) return null
  let o = 10 + actor.length
  if (!line.startsWith('","at":"', o)) return null
  const at = str(o + 8)
  if (at === null) return null
  o += 8 + at.length
  if (!line.startsWith('","chain":"', o)) return null
  const chain = str(o + 11)
  if (chain === null) return null
  // From the end: ,"prev_hash":"<64>","seq":N,"session_id":null|"…","type":"…","hash":"<64>"}
  const hashAt = line.length - 66
  if (!line.startsWith('","hash":"', hashAt - 10) || !line.endsWith('"}')) return null
  const hash = line.slice(hashAt, hashAt + 64)
  const typeAt = line.lastIndexOf(',"type":"', hashAt)
  if (typeAt < 0) return null
  const type = str(typeAt + 9)
  const sessionAt = line.lastIndexOf(',"session_id":', typeAt)
  if (sessionAt < 0) return null
  let session: string | null = null
  if (line[sessionAt + 14] === '"') {
    session = str(sessionAt + 15)
    if (session === null) return null
  }
  const seqAt = line.lastIndexOf(',"seq":', sessionAt)
  const prevAt = seqAt - 79
  if (type === null || seqAt < 0 || !line.startsWith(',"prev_hash":"', prevAt)) return null
  const prev = line.slice(prevAt + 14, prevAt + 78)
  const seq = Number(line.slice(seqAt + 7, sessionAt))
  return { actor, at, chain, prev_hash: prev, seq, session_id: session, type, hash }
}

/** An event's JSON line, however the store was handed it. */
export const lineOf = (e: AuditLine): string => (typeof e === 'string' ? e : e.line)

/** An event as it is kept in the stream: compact when it can be, else its JSON text. */
export const storedEvent = (e: AuditLine): Buffer | string =>
  typeof e === 'string' ? (encodeEvent(e) ?? e) : (encodeParts(e.parts) ?? e.line)

/** The event's JSON from what the stream keeps (either form). */
export function decodeStored(raw: Buffer): string {
  if (raw[0] !== FORMAT) return raw.toString('utf8')
  const flags = raw[1] as number
  let o = 2
  const prev = raw.toString('hex', o, o + 32)
  const hash = raw.toString('hex', o + 32, o + 64)
  o += 64
  const ms = raw.readUIntBE(o, 6)
  o += 6
  const [seq, o1] = readVarint(raw, o)
  o = o1
  const str = (): string => {
    const [n, p] = readVarint(raw, o)
    o = p + n
    return raw.toString('utf8', p, o)
  }
  const chain = str()
  const actor = str()
  const type = str()
  const session = flags & FLAG_SESSION ? str() : null
  const text = raw.toString('utf8', o)
  const details =
    flags & FLAG_TOKENS ? text.replace(TOKEN, (c) => TOKENS[c.charCodeAt(0) - 1] as string) : text
  return head(actor, iso(ms), chain) + details + tail(prev, seq, session, type, hash)
}

function varint(b: Buffer, o: number, n: number): number {
  while (n >= 0x80) {
    b[o++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  b[o++] = n
  return o
}

function readVarint(b: Buffer, o: number): [number, number] {
  let n = 0
  let scale = 1
  for (;;) {
    const byte = b[o++]
    if (byte === undefined) throw new RangeError('a stored audit event ends early')
    n += (byte & 0x7f) * scale
    if (byte < 0x80) return [n, o]
    scale *= 0x80
  }
}
