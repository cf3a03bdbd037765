// How a base64 run goes on past a form: the rest of its line, its padding, and the lines it is
// wrapped onto (each as wide as the lines before it, or a last one that ends as base64 does). A
// stream redacts a run up to a chunk's end and goes on with it in the next chunk, holding only a
// break and the line after it until it knows whether they are the run's; and holds a chunk's end
// that a match in the next chunk may widen back into. Breaks are those of line-break.ts.
import { BS, CR, LF, breakBefore, breakKind, startsBreak } from './line-break.js'

/** The characters of both base64 alphabets, padding aside. */
export const B64 = new Uint8Array(256)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_') B64[c.charCodeAt(0)] = 1
export const isB64 = (c: number) => B64[c] === 1
const PAD = 0x3d
/** What may follow a block's last line: its padding, a break, a quote or a tag. */
const ENDS_LINE = new Set([PAD, LF, CR, BS, 0x22, 0x27, 0x3c, 0x60])
/** A line longer than this is not taken as a line of a wrapped block (and bounds what a stream holds). */
export const LINE_MAX = 1024

/**
 * The widths encoders wrap at: GitHub 60, PEM 64, MIME 76. A form within one line is taken to be
 * in a wrapped block only when its line is one of these wide (two values of one length on two
 * lines are not a block); a form cut by a break shows the block's width itself.
 */
export const WIDTHS = new Set([60, 64, 76])

/**
 * A base64 run widened forwards, where its text (a chunk of a stream) ended: the width of its
 * lines once known, the characters on its line, the `=` seen, and the bytes read past it that may
 * yet join it (a break and the line after it: they join if that line ends as a line of base64 does).
 */
export interface RunState {
  width: number | null
  line: number
  pad: number
  held: number[]
  /** Characters of the held line; -1 while the held bytes are a break not yet whole. */
  next: number
}

export const lineRun = (line: number, width: number | null): RunState => ({
  width,
  line,
  pad: 0,
  held: [],
  next: -1,
})

export interface RunEnd {
  /** Where the run ends in this text. */
  end: number
  /** Still open at the text's end: the next text may go on with it. */
  open: RunState | null
  /** Bytes held from an earlier text that are not part of the run after all: to be sent. */
  restore: Buffer | null
}

/**
 * Where a run goes on to from `at`: the rest of its line, its padding, and each line after a break
 * that is as wide as the lines before it (or, after the block's last, ends as a last line does).
 * `final`: the text's end is the end of everything, not of a chunk.
 */
export function runOn(src: Buffer, at: number, st: RunState, final: boolean): RunEnd {
  const s = { ...st, held: [...st.held] }
  let heldHere = 0
  const done = (end: number): RunEnd => ({ end, open: null, restore: null })
  const reject = (): RunEnd => {
    const before = s.held.length - heldHere
    return {
      end: at - heldHere,
      open: null,
      restore: before > 0 ? Buffer.from(s.held.slice(0, before)) : null,
    }
  }
  const accept = () => {
    s.line = s.next
    s.held = []
    s.next = -1
    heldHere = 0
  }
  while (at < src.length) {
    const c = src[at] as number
    if (s.held.length === 0) {
      if (s.pad > 0) return done(c === PAD && s.pad === 1 ? at + 1 : at)
      if (isB64(c)) s.line++
      else if (c === PAD) s.pad = 1
      else if (startsBreak(c) && (s.width === null ? WIDTHS.has(s.line) : s.line === s.width)) {
        s.width = s.line
        s.held.push(c)
        heldHere++
        if (breakKind(s.held) === 'whole') s.next = 0
      } else return done(at)
      at++
      continue
    }
    if (s.next <= 0) {
      // In the break or its indentation: the break may go on (`\r` to `\r\n`), indentation follow.
      const kind = breakKind([...s.held, c])
      if (kind !== null) {
        s.held.push(c)
        heldHere++
        s.next = kind === 'whole' ? 0 : -1
        at++
        continue
      }
      if (s.next < 0) return reject()
    }
    if (isB64(c)) {
      if (s.next >= Math.min(s.width ?? 0, LINE_MAX)) return reject()
      s.held.push(c)
      heldHere++
      s.next++
    } else if ((s.next > 0 && ENDS_LINE.has(c)) || (s.next === 0 && c === PAD)) {
      // A line of padding alone ends a block too.
      accept()
      continue // the character that ended the line is read again, as the run's
    } else return reject()
    at++
  }
  if (!final) return { end: at, open: s, restore: null }
  if (s.next > 0) accept()
  return s.held.length > 0 ? reject() : done(at)
}

/**
 * How many characters `src` ends with that a later match may take back: base64 characters (up to
 * `max`) with the breaks and indentation between them, and a break not yet whole at the very end.
 * Past `2 * max` bytes it stops once it has `min` characters (a form's beginning is always held,
 * however it is wrapped), so it holds at most max(2 * max, (min + 1) * (1 + BREAK_SPAN)) bytes:
 * `max` characters on lines of 4 or more with breaks of up to 4 bytes, of 76 or more with any.
 */
export function trailingRun(src: Buffer, max: number, min = 0): number {
  let at = src.length
  let chars = 0
  while (at > 0 && chars < max && (chars < min || src.length - at < 2 * max)) {
    const brk = breakBefore(src, at)
    if (brk > 0) {
      if (at - brk === 0 || !isB64(src[at - brk - 1] as number)) break
      at -= brk
    } else if (isB64(src[at - 1] as number)) {
      at--
      chars++
    } else break
  }
  return src.length - at
}
