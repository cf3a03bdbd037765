// The upstream credential never comes back to the agent, even when the upstream echoes it: every
// occurrence in response headers and body becomes `[redacted]`. A small body is redacted whole; a
// streamed one chunk by chunk, holding back only a chunk's end that could begin a secret (most
// chunks end with none), so an occurrence split across chunks is still found.
// Encoders differ in the case of the hex digits they write in an escape (`%2f` or `%2F`, `\u003c`
// or `\u003C`), and may mix both in one string: a form holding an escape is matched with the
// letters a-f in either case, by comparing upper-cased copies (the same length, so a match's
// place in the copy is its place in the original).
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
}

function foldBytes(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafe(buf.length)
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i] as number
    out[i] = c >= 0x61 && c <= 0x66 ? c - 0x20 : c
  }
  return out
}

/** The forms to search for, in the order given: empty ones and repeats (in any case) left out. */
export function searchForms(secrets: string[]): SearchForm[] {
  const seen = new Set<string>()
  const out: SearchForm[] = []
  for (const s of secrets) {
    const anyCase = hasEscape(s)
    const text = anyCase ? foldHex(s) : s
    if (s === '' || seen.has(text)) continue
    seen.add(text)
    out.push({ text, bytes: Buffer.from(text), anyCase })
  }
  return out
}

/** Replaces every occurrence of each form in a buffer (the buffer itself when there is none). */
export function redactBuffer(buf: Buffer, forms: SearchForm[]): Buffer {
  let out: Buffer = buf
  let folded: Buffer | null = null
  for (const f of forms) {
    const hay = f.anyCase ? (folded ??= foldBytes(out)) : out
    let at = hay.indexOf(f.bytes)
    if (at < 0) continue
    const parts: Buffer[] = []
    let from = 0
    while (at >= 0) {
      parts.push(out.subarray(from, at), MARK)
      from = at + f.bytes.length
      at = hay.indexOf(f.bytes, from)
    }
    parts.push(out.subarray(from))
    out = Buffer.concat(parts)
    folded = null
  }
  return out
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
    let next = ''
    let from = 0
    while (at >= 0) {
      next += out.slice(from, at) + REDACTED
      from = at + f.text.length
      at = hay.indexOf(f.text, from)
    }
    out = next + out.slice(from)
    folded = null
  }
  return out
}

/** A stream that passes bytes through with every form replaced. */
export function redactStream(forms: SearchForm[]): Transform {
  let carry: Buffer | null = null
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      const joined = redactBuffer(carry ? Buffer.concat([carry, chunk]) : chunk, forms)
      const held = pendingLength(joined, forms)
      const cut = joined.length - held
      // A copy: the held bytes are few and must not keep the whole chunk alive.
      carry = held > 0 ? Buffer.from(joined.subarray(cut)) : null
      cb(null, cut > 0 ? joined.subarray(0, cut) : undefined)
    },
    flush(cb: TransformCallback) {
      // What is held is a form's beginning, never a whole one: it goes out as it is.
      cb(null, carry ?? undefined)
    },
  })
}
