// The upstream credential never comes back to the agent, even when the upstream echoes it: every
// occurrence in response headers and body becomes `[redacted]`. A small body is redacted whole; a
// streamed one chunk by chunk, holding back only a chunk's end that could begin a secret (most
// chunks end with none), so an occurrence split across chunks is still found.
// Encoders differ in the case of the hex digits they write in an escape (`%2f` or `%2F`, `\u003c`
// or `\u003C`), and may mix both in one string: a form holding an escape is matched with the
// letters a-f in either case, by comparing upper-cased copies (the same length, so a match's
// place in the copy is its place in the original).
// A base64 form is only the characters that encode the secret's bytes alone (secret-forms.ts): each
// match of one is widened to the whole run of base64 characters around it (what else the run
// encodes, the characters mixing both, the padding), so nothing of the encoded value is left.
import { Transform, type TransformCallback } from 'node:stream'
import { foldHex, hasEscape } from './secret-forms.js'

export const REDACTED = '[redacted]'
const MARK = Buffer.from(REDACTED)

/** A form of a secret to search for; its a-f upper-cased when `anyCase` (see foldHex). */
export interface SearchForm {
  text: string
  bytes: Buffer
  /** It holds an escape, so hex digits' case is free. */
  anyCase: boolean
  /** A base64 form: replaced with the run of base64 characters around it. */
  base64: boolean
}

/** The characters of both base64 alphabets, padding aside. */
const B64 = new Uint8Array(128)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_') B64[c.charCodeAt(0)] = 1
const isB64 = (c: number) => B64[c] === 1
const PAD = 0x3d

/**
 * Where a run widened forwards stands when its text ends: still in its characters (0), or after
 * one `=` (1), when only a second `=` may follow. `null`: the run is over.
 */
export type RunState = 0 | 1 | null

/** Where the base64 run holding position `at` starts: not before `floor`, nor past a `=`. */
function runStart(code: (i: number) => number, at: number, floor: number): number {
  // Leftwards no `=`: padding only ends a run, and `NAME=<base64>` keeps its name.
  while (at > floor && isB64(code(at - 1))) at--
  return at
}

/** Where a run goes on to from `at` (its characters, then up to two `=`), and its state there. */
export function runEnd(
  code: (i: number) => number,
  at: number,
  size: number,
  state: RunState,
): [number, RunState] {
  while (state !== null && at < size) {
    const c = code(at)
    if (state === 0 && isB64(c)) at++
    else if (c === PAD) {
      at++
      state = state === 0 ? 1 : null
    } else state = null
  }
  return [at, state]
}

/** How many base64 characters `buf` ends with, up to `max`: a run a later match may widen into. */
export function trailingRun(buf: Buffer, max: number): number {
  let n = 0
  while (n < max && n < buf.length && isB64(buf[buf.length - 1 - n] as number)) n++
  return n
}

function foldBytes(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafe(buf.length)
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i] as number
    out[i] = c >= 0x61 && c <= 0x66 ? c - 0x20 : c
  }
  return out
}

/**
 * The forms to search for, in the order given: empty ones and repeats (in any case) left out.
 * Those also in `base64` are widened to their base64 run.
 */
export function searchForms(secrets: string[], base64: readonly string[] = []): SearchForm[] {
  const b64 = new Set(base64)
  const seen = new Set<string>()
  const out: SearchForm[] = []
  for (const s of secrets) {
    const anyCase = hasEscape(s)
    const text = anyCase ? foldHex(s) : s
    if (s === '' || seen.has(text)) continue
    seen.add(text)
    out.push({ text, bytes: Buffer.from(text), anyCase, base64: b64.has(s) })
  }
  return out
}

/** Replaces every occurrence of each form in a buffer (the buffer itself when there is none). */
export function redactBuffer(buf: Buffer, forms: SearchForm[]): Buffer {
  return redactBytes(buf, forms).out
}

interface Redacted {
  out: Buffer
  /** The state of a base64 run widened up to the end (the next chunk of a stream may go on with it). */
  open: RunState
  /** A base64 run was widened back to the start (into what a stream held before it). */
  fromStart: boolean
}

/** What redactBuffer does, and how widened runs meet the buffer's ends. */
function redactBytes(buf: Buffer, forms: SearchForm[]): Redacted {
  let out: Buffer = buf
  let folded: Buffer | null = null
  let open: RunState = null
  let fromStart = false
  for (const f of forms) {
    const hay = f.anyCase ? (folded ??= foldBytes(out)) : out
    let at = hay.indexOf(f.bytes)
    if (at < 0) continue
    const src = out
    const code = (i: number) => src[i] as number
    const parts: Buffer[] = []
    let from = 0
    open = null
    while (at >= 0) {
      let start = at
      let end = at + f.bytes.length
      if (f.base64) {
        start = runStart(code, at, from)
        ;[end, open] = runEnd(code, end, src.length, 0)
        fromStart ||= start === 0
      }
      parts.push(src.subarray(from, start), MARK)
      from = end
      at = hay.indexOf(f.bytes, from)
    }
    parts.push(src.subarray(from))
    out = Buffer.concat(parts)
    folded = null
  }
  return { out, open, fromStart }
}

/**
 * The length of the longest end of `buf` that is the beginning (not the whole) of a form: what
 * must wait for the next chunk. Only positions holding a form's first byte are compared.
 */
export function pendingLength(buf: Buffer, forms: SearchForm[]): number {
  let best = 0
  for (const f of forms) {
    const s = f.bytes
    const max = Math.min(s.length - 1, buf.length)
    if (max <= best) continue
    const tail = buf.subarray(buf.length - max)
    const hay = f.anyCase ? foldBytes(tail) : tail
    const first = s[0] as number
    // The earliest candidate start gives the longest end: stop at the first that matches.
    for (let i = hay.indexOf(first); i >= 0; i = hay.indexOf(first, i + 1)) {
      const len = hay.length - i
      if (len <= best) break
      if (hay.compare(s, 0, len, i) === 0) {
        best = len
        break
      }
    }
  }
  return best
}

export function redactText(text: string, forms: SearchForm[]): string {
  let out = text
  let folded: string | null = null
  for (const f of forms) {
    const hay = f.anyCase ? (folded ??= foldHex(out)) : out
    let at = hay.indexOf(f.text)
    if (at < 0) continue
    const src = out
    const code = (i: number) => src.charCodeAt(i)
    let next = ''
    let from = 0
    while (at >= 0) {
      let start = at
      let end = at + f.text.length
      if (f.base64) {
        start = runStart(code, at, from)
        end = runEnd(code, end, src.length, 0)[0]
      }
      next += src.slice(from, start) + REDACTED
      from = end
      at = hay.indexOf(f.text, from)
    }
    out = next + src.slice(from)
    folded = null
  }
  return out
}

/**
 * How much of a base64 run ending a chunk a stream holds back beyond its longest form, so that a
 * match in the next chunk can take the run's beginning back: a longer run before a match has its
 * start sent already (what it encodes is the secret's neighbours; the characters mixing both are
 * always held). Bounded, so a long base64 answer still streams.
 */
export const RUN_HELD = 1024

/** A stream that passes bytes through with every form replaced. */
export function redactStream(forms: SearchForm[]): Transform {
  const longest = Math.max(0, ...forms.filter((f) => f.base64).map((f) => f.bytes.length))
  const runHeld = longest > 0 ? longest + RUN_HELD : 0
  let carry: Buffer | null = null
  // The carry holds the beginning of a form (not only the end of a base64 run).
  let carryPending = false
  // A base64 run redacted up to the end of what came so far: the next chunk's start may be its rest.
  let open: RunState = null
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      if (open !== null) {
        let skip: number
        ;[skip, open] = runEnd((i) => chunk[i] as number, 0, chunk.length, open)
        chunk = chunk.subarray(skip)
        if (chunk.length === 0) return cb()
      }
      let r: Redacted
      if (carry && !carryPending && chunk.length >= runHeld) {
        // The carry is only a base64 run's end, held in case a match widens back into it: no form
        // begins in it, so the chunk is searched alone, sparing a copy of most chunks. What it
        // holds next is within it, as it is at least as long as the most a stream holds.
        r = redactBytes(chunk, forms)
        if (!r.fromStart) this.push(carry)
      } else r = redactBytes(carry ? Buffer.concat([carry, chunk]) : chunk, forms)
      const joined = r.out
      open = r.open
      const pending = pendingLength(joined, forms)
      const held = Math.max(pending, trailingRun(joined, runHeld))
      const cut = joined.length - held
      // A copy: the held bytes are few and must not keep the whole chunk alive.
      carry = held > 0 ? Buffer.from(joined.subarray(cut)) : null
      carryPending = pending > 0
      cb(null, cut > 0 ? joined.subarray(0, cut) : undefined)
    },
    flush(cb: TransformCallback) {
      // What is held is a form's beginning or a run's end, never a whole form: it goes out as it is.
      cb(null, carry ?? undefined)
    },
  })
}
