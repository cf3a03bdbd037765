// How a base64 run goes on past a form: the rest of its line, its padding, and the lines it is
// wrapped onto (each as wide as the lines before it, or a last one that ends as base64 does). A
// stream redacts a run up to a chunk's end and goes on with it in the next chunk, holding only a
// break and the line after it until it knows whether they are the run's; and holds a chunk's end
// that a match in the next chunk may widen back into.

/** The characters of both base64 alphabets, padding aside. */
export const B64 = new Uint8Array(256)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_') B64[c.charCodeAt(0)] = 1
export const isB64 = (c: number) => B64[c] === 1
const PAD = 0x3d
export const LF = 0x0a
export const CR = 0x0d
export const BS = 0x5c

/** The breaks that wrap a line: real LF and CRLF, and the JSON escapes `\n` and `\r\n`. */
const BREAKS = ['\n', '\r\n', '\\n', '\\r\\n']
/** Each break's beginnings, and whether they are the whole break. */
const PREFIX = new Map<string, boolean>()
for (const b of BREAKS) for (let i = 1; i <= b.length; i++) PREFIX.set(b.slice(0, i), i === b.length)
const startsBreak = (c: number) => c === LF || c === CR || c === BS
/** What may follow a block's last line: its padding, a break, a quote or a tag. */
const ENDS_LINE = new Set([PAD, LF, CR, BS, 0x22, 0x27, 0x3c, 0x60])
/** A line longer than this is not taken as a line of a wrapped block (and bounds what a stream holds). */
export const LINE_MAX = 1024

/** The length of the break that starts at `at`, 0 if none. */
export function breakAt(src: Buffer, at: number): number {
  const c = src[at] as number
  if (c === LF) return 1
  if (c === CR) return (src[at + 1] as number) === LF ? 2 : 0
  if (c !== BS) return 0
  const n = src[at + 1] as number
  if (n === 0x6e) return 2
  return n === 0x72 && (src[at + 2] as number) === BS && (src[at + 3] as number) === 0x6e ? 4 : 0
}

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
        if (PREFIX.get(String.fromCharCode(c))) s.next = 0
      } else return done(at)
    } else if (s.next < 0) {
      const whole = PREFIX.get(String.fromCharCode(...s.held, c))
      if (whole === undefined) return reject()
      s.held.push(c)
      heldHere++
      if (whole) s.next = 0
    } else if (isB64(c)) {
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
 * `max`) with the breaks between them, and a break not yet whole at the very end. At most
 * `2 * max` bytes, which holds `max` characters on lines of 4 or more.
 */
export function trailingRun(src: Buffer, max: number): number {
  let at = src.length
  let chars = 0
  // A break's beginning at the very end (CR, `\`, `\r`, `\r\`) after a base64 character.
  const last = src[at - 1]
  const partial = last === CR || last === BS || last === 0x72
  for (let k = partial ? Math.min(3, at - 1) : 0; k > 0; k--) {
    let text = ''
    for (let i = at - k; i < at; i++) text += String.fromCharCode(src[i] as number)
    if (PREFIX.get(text) === false && isB64(src[at - k - 1] as number)) {
      at -= k
      break
    }
  }
  while (at > 0 && chars < max && src.length - at < 2 * max) {
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

/** The length of the break that ends right before `at`, 0 if none. */
function breakBefore(src: Buffer, at: number): number {
  const c = src[at - 1] as number
  if (c === LF) return at >= 2 && (src[at - 2] as number) === CR ? 2 : 1
  if (c !== 0x6e || at < 2 || (src[at - 2] as number) !== BS) return 0
  return at >= 4 && (src[at - 3] as number) === 0x72 && (src[at - 4] as number) === BS ? 4 : 2
}
