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
// encodes, the characters mixing both, the padding), so nothing of the encoded value is left. Base64
// wrapped over lines is searched with its breaks taken out, and widened to its block (wrapped-base64.ts).
// The credential in UTF-16 (an answer that names no charset) is searched as its bytes in either
// byte order (search-forms.ts); only an answer with a NUL byte can hold it, and one without is not
// searched for it.
import { Transform, type TransformCallback } from 'node:stream'
import { foldHex } from './secret-forms.js'
import { foldBytes, REDACTED, type SearchForm } from './search-forms.js'
import { isB64, lineRun, runOn, trailingRun, type RunState } from './base64-run.js'
import { BREAK_SPAN } from './line-break.js'
import { mayWrap, wrappedBlocks } from './wrapped-base64.js'

export { REDACTED, searchForms, type SearchForm } from './search-forms.js'
const MARK = Buffer.from(REDACTED)

/** Where the base64 run holding position `at` starts: not before `floor`, nor past a `=`. */
function runStart(code: (i: number) => number, at: number, floor: number): number {
  // Leftwards no `=`: padding only ends a run, and `NAME=<base64>` keeps its name.
  while (at > floor && isB64(code(at - 1))) at--
  return at
}

/** Replaces every occurrence of each form in a buffer (the buffer itself when there is none). */
export function redactBuffer(buf: Buffer, forms: SearchForm[]): Buffer {
  return redactBytes(buf, forms, true).out
}

/**
 * The wrapped blocks holding a base64 form, to be replaced with MARK (null when there is none).
 * A string is searched as its UTF-16 code units' low bytes: the same positions, and base64 and
 * breaks are ASCII (a character past U+00FF only ever joins a run next to a form).
 */
function redactWrapped(src: Buffer | string, forms: SearchForm[], final: boolean) {
  if (!mayWrap(src)) return null
  const b64 = forms.filter((f) => f.base64).map((f) => f.bytes)
  if (b64.length === 0) return null
  const bytes = typeof src === 'string' ? Buffer.from(src, 'latin1') : src
  const found = wrappedBlocks(bytes, b64, Math.min(...b64.map((b) => b.length)), final)
  return found.ranges.length > 0 ? found : null
}

/** A base64 match's run from `end` on (its line from `start`), over any lines it is wrapped on. */
const plainRun = (src: Buffer | string, start: number, end: number, final: boolean) =>
  runOn(typeof src === 'string' ? Buffer.from(src, 'latin1') : src, end, lineRun(end - start, null), final)

interface Redacted {
  out: Buffer
  /** The state of a base64 run widened up to the end (the next chunk of a stream may go on with it). */
  open: RunState | null
  /** A base64 run was widened back to the start (into what a stream held before it). */
  fromStart: boolean
}

/** What redactBuffer does, and how widened runs meet the buffer's ends; `final`: no more follows. */
function redactBytes(buf: Buffer, forms: SearchForm[], final: boolean): Redacted {
  let out: Buffer = buf
  let folded: Buffer | null = null
  let open: RunState | null = null
  let fromStart = false
  // Whether the buffer has a NUL, which UTF-16 of the credential has (replacing a form adds none).
  let nul: boolean | null = null
  const wrapped = redactWrapped(buf, forms, final)
  if (wrapped) {
    const parts: Buffer[] = []
    let from = 0
    for (const [start, end] of wrapped.ranges) {
      parts.push(buf.subarray(from, start), MARK)
      from = end
    }
    parts.push(buf.subarray(from))
    out = Buffer.concat(parts)
    open = wrapped.open
    fromStart = wrapped.ranges[0]?.[0] === 0
  }
  for (const f of forms) {
    if (f.wide && !(nul ??= buf.indexOf(0) >= 0)) continue
    const hay = f.anyCase ? (folded ??= foldBytes(out)) : out
    let at = hay.indexOf(f.bytes)
    if (at < 0) continue
    const src = out
    const code = (i: number) => src[i] as number
    const parts: Buffer[] = []
    let from = 0
    while (at >= 0) {
      let start = at
      let end = at + f.bytes.length
      if (f.base64) {
        start = runStart(code, at, from)
        const run = plainRun(src, start, end, final)
        end = run.end
        // Only a run that reaches the end is open; one that ends before leaves the state alone.
        if (run.open) open = run.open
        fromStart ||= start === 0
      }
      parts.push(src.subarray(from, start), f.markBytes)
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
  const wrapped = redactWrapped(text, forms, true)
  if (wrapped) {
    let next = ''
    let from = 0
    for (const [start, end] of wrapped.ranges) {
      next += text.slice(from, start) + REDACTED
      from = end
    }
    out = next + text.slice(from)
  }
  let folded: string | null = null
  let nul: boolean | null = null
  for (const f of forms) {
    if (f.wide && !(nul ??= text.includes('\0'))) continue
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
        end = plainRun(src, start, end, true).end
      }
      next += src.slice(from, start) + f.mark
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
 * always held). Bounded, so a long base64 answer still streams: the characters of a run wrapped
 * over lines are counted without its breaks and indentation (trailingRun).
 */
export const RUN_HELD = 1024

/** What a line break starts with: LF, CR, and `\` of an escape. */
const BREAK_START = new Set([0x0a, 0x0d, 0x5c])

/**
 * A stream that passes bytes through with every form replaced. It holds back at most the longest
 * form's length - 1 (a form's beginning: a UTF-16 form is the longest of a credential in ASCII,
 * twice its length), or a base64 run's end: with B the longest base64 form, its last B + RUN_HELD
 * characters within 2 * (B + RUN_HELD) bytes, and its last B characters however wrapped, so at most
 * (B + 1) * (1 + BREAK_SPAN) bytes (a line of one character after each break and indentation).
 */
export function redactStream(forms: SearchForm[]): Transform {
  const longest = Math.max(0, ...forms.filter((f) => f.base64).map((f) => f.bytes.length))
  const runHeld = longest > 0 ? longest + RUN_HELD : 0
  const heldMax = longest > 0 ? Math.max(2 * runHeld, (longest + 1) * (1 + BREAK_SPAN)) : 0
  let carry: Buffer | null = null
  // The carry holds the beginning of a form (not only the end of a base64 run).
  let carryPending = false
  // A base64 run redacted up to the end of what came so far: the next chunk's start may be its rest.
  let open: RunState | null = null
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      if (open !== null) {
        const run = runOn(chunk, 0, open, false)
        open = run.open
        if (open) return cb()
        // Bytes held as the run's next line that turned out not to be: sent, after a search.
        chunk = run.restore ? Buffer.concat([run.restore, chunk.subarray(run.end)]) : chunk.subarray(run.end)
        if (chunk.length === 0) return cb()
      }
      let r: Redacted
      if (carry && !carryPending && chunk.length >= heldMax && !BREAK_START.has(chunk[0] as number)) {
        // The carry is only a base64 run's end, held in case a match widens back into it: no form
        // begins in it, and the chunk does not wrap it onto a next line, so the chunk is searched
        // alone, sparing a copy of most chunks. What it holds next is within it, as it is at least
        // as long as the most a stream holds.
        r = redactBytes(chunk, forms, false)
        if (!r.fromStart) this.push(carry)
      } else r = redactBytes(carry ? Buffer.concat([carry, chunk]) : chunk, forms, false)
      const joined = r.out
      open = r.open
      const pending = pendingLength(joined, forms)
      const run = trailingRun(joined, runHeld, longest)
      const held = Math.max(pending, run)
      const cut = joined.length - held
      // A copy: the held bytes are few and must not keep the whole chunk alive.
      carry = held > 0 ? Buffer.from(joined.subarray(cut)) : null
      // A run wrapped over lines may hold a form's beginning cut by a break: searched with what follows.
      carryPending = pending > 0 || (carry !== null && carry.some((c) => BREAK_START.has(c)))
      cb(null, cut > 0 ? joined.subarray(0, cut) : undefined)
    },
    flush(cb: TransformCallback) {
      // What is held is a form's beginning or a run's end, never a whole form: it goes out as it is,
      // and so do bytes held as an open run's next line when they cannot be one.
      const restore = open ? runOn(Buffer.alloc(0), 0, open, true).restore : null
      const tail = carry && restore ? Buffer.concat([carry, restore]) : (carry ?? restore)
      cb(null, tail ?? undefined)
    },
  })
}
