// The forms of the secrets a redactor searches for, as text and as bytes, and what replaces each.
// A form of the credential in UTF-16 (an answer in UTF-16 that names no charset nor has a byte
// order mark) is replaced with the mark in the same byte order, so the answer still reads as UTF-16
// and keeps its alignment (both are of an even length).
import { foldHex, hasEscape, utf16Forms } from './secret-forms.js'

export const REDACTED = '[redacted]'

/** A form of a secret to search for; its a-f upper-cased when `anyCase` (see foldHex). */
export interface SearchForm {
  text: string
  bytes: Buffer
  /** It holds an escape, so hex digits' case is free. */
  anyCase: boolean
  /** A base64 form: replaced with the run of base64 characters around it. */
  base64: boolean
  /** A UTF-16 form: its text's characters are its bytes (latin1), and only a NUL-holding text has it. */
  wide: boolean
  /** What replaces it: REDACTED, in UTF-16 for a UTF-16 form. */
  mark: string
  markBytes: Buffer
}

/** foldHex of bytes. */
export function foldBytes(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafe(buf.length)
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i] as number
    out[i] = c >= 0x61 && c <= 0x66 ? c - 0x20 : c
  }
  return out
}

const plainMark = { wide: false, mark: REDACTED, markBytes: Buffer.from(REDACTED) }
const [MARK_LE, MARK_BE] = utf16Forms(REDACTED)

/**
 * The forms to search for: first each of `wide` in UTF-16, both byte orders (secret-forms.ts), then
 * `secrets` in the order given; empty ones and repeats (in any case) left out. Those also in
 * `base64` are widened to their base64 run.
 */
export function searchForms(
  secrets: string[],
  base64: readonly string[] = [],
  wide: readonly string[] = [],
): SearchForm[] {
  const b64 = new Set(base64)
  const seen = new Set<string>()
  const out: SearchForm[] = []
  for (const w of wide) {
    if (w === '') continue
    const [le, be] = utf16Forms(w)
    for (const [text, mark] of [
      [le, MARK_LE],
      [be, MARK_BE],
    ] as const) {
      if (seen.has(text)) continue
      seen.add(text)
      const [bytes, markBytes] = [Buffer.from(text, 'latin1'), Buffer.from(mark, 'latin1')]
      out.push({ text, bytes, anyCase: false, base64: false, wide: true, mark, markBytes })
    }
  }
  for (const s of secrets) {
    const anyCase = hasEscape(s)
    const text = anyCase ? foldHex(s) : s
    if (s === '' || seen.has(text)) continue
    seen.add(text)
    out.push({ text, bytes: Buffer.from(text), anyCase, base64: b64.has(s), ...plainMark })
  }
  return out
}
