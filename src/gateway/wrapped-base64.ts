// Base64 wrapped over lines: GitHub's contents API breaks a file's base64 every 60 characters with
// a `\n` escape inside its JSON string, MIME and PEM every 76 or 64 with a real LF or CRLF. A form
// of the credential may then be cut by a break anywhere, so runs of base64 joined by breaks (a
// base64 character right before and after) are searched with the breaks taken out, and a match is
// widened to its wrapped block: the lines of the block's width around it (a wrapped encoding has
// every line but the last of one width), the breaks between them, its padding. Text on the lines
// before and after a block (a PEM label, `before`, `next: yes`) is of another width or does not end
// as a line of base64 does, and stays.

/** The characters of both base64 alphabets, padding aside. */
const B64 = new Uint8Array(256)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_') B64[c.charCodeAt(0)] = 1
export const isB64 = (c: number) => B64[c] === 1
const PAD = 0x3d
const LF = 0x0a
const CR = 0x0d
const BS = 0x5c

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

/** The JSON escape `\n`, as searched for. */
const ESCAPED_LF = Buffer.from('\\n')

/** Whether `src` has a line break at all: most answers have none, and are not searched further. */
export const mayWrap = (src: Buffer | string): boolean =>
  typeof src === 'string'
    ? src.includes('\n') || src.includes('\\n')
    : src.indexOf(LF) >= 0 || src.indexOf(ESCAPED_LF) >= 0

/** The length of the break that starts at `at`, 0 if none. */
function breakAt(src: Buffer, at: number): number {
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
const WIDTHS = new Set([60, 64, 76])

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
  for (let k = Math.min(3, at - 1); k > 0; k--) {
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

/** A run of base64 lines joined by breaks: where each line starts and ends. */
interface Chain {
  starts: number[]
  ends: number[]
  chars: number
}

/** The base64 character right before a break starting at `at`, and right after it. */
function joins(src: Buffer, at: number): number {
  const len = at > 0 && isB64(src[at - 1] as number) ? breakAt(src, at) : 0
  return len > 0 && at + len < src.length && isB64(src[at + len] as number) ? len : 0
}

/** Where the break holding the LF or `\n` escape found at `hit` starts. */
function breakStart(src: Buffer, hit: number): number {
  if ((src[hit] as number) === LF) return hit > 0 && (src[hit - 1] as number) === CR ? hit - 1 : hit
  return hit >= 2 && (src[hit - 1] as number) === 0x72 && (src[hit - 2] as number) === BS ? hit - 2 : hit
}

/** A chain's characters and end, from its first line at [start, at); its lines put in `into`. */
function walk(src: Buffer, start: number, at: number, into: Chain | null): [number, number] {
  let chars = at - start
  let end = at
  into?.starts.push(start)
  into?.ends.push(at)
  for (let len = joins(src, end); len > 0; len = joins(src, end)) {
    let e = end + len
    while (e < src.length && isB64(src[e] as number)) e++
    into?.starts.push(end + len)
    into?.ends.push(e)
    chars += e - end - len
    end = e
  }
  return [chars, end]
}

/** The chains of `src` of at least `min` characters. Only LFs and `\n` escapes are looked at. */
function chains(src: Buffer, min: number): Chain[] {
  const out: Chain[] = []
  // A `\n` escape is found by its backslash: a byte is searched for far faster than two.
  const escape = (from: number) => {
    let at = src.indexOf(BS, from)
    while (at >= 0 && src[at + 1] !== 0x6e) at = src.indexOf(BS, at + 1)
    return at
  }
  let lf = src.indexOf(LF)
  let esc = escape(0)
  let floor = 0
  while (lf >= 0 || esc >= 0) {
    const hit = lf < 0 ? esc : esc < 0 ? lf : Math.min(lf, esc)
    const at = breakStart(src, hit)
    if (at >= floor && joins(src, at) > 0) {
      let start = at
      while (start > floor && isB64(src[start - 1] as number)) start--
      // Lines are recorded only for a chain long enough to hold a form (text's `one\nline` is not).
      const [chars, end] = walk(src, start, at, null)
      if (chars >= min) {
        const c: Chain = { starts: [], ends: [], chars }
        walk(src, start, at, c)
        out.push(c)
      }
      floor = end
    }
    const from = Math.max(hit + 1, floor)
    if (lf >= 0 && lf < from) lf = src.indexOf(LF, from)
    if (esc >= 0 && esc < from) esc = escape(from)
  }
  return out
}

export interface Wrapped {
  /** What to replace, in order, not overlapping. */
  ranges: [number, number][]
  /** The state of a block that reaches the text's end. */
  open: RunState | null
}

/** The wrapped blocks of `src` that hold one of `forms` (base64 forms, the shortest `min` long). */
export function wrappedBlocks(src: Buffer, forms: Buffer[], min: number, final: boolean): Wrapped {
  const ranges: [number, number][] = []
  let open: RunState | null = null
  for (const c of chains(src, min)) {
    const n = c.starts.length
    const len = (k: number) => (c.ends[k] as number) - (c.starts[k] as number)
    // Each line's offset in the chain's text without breaks.
    const offs: number[] = []
    const text = Buffer.allocUnsafe(c.chars)
    for (let k = 0, o = 0; k < n; o += len(k), k++) {
      offs.push(o)
      src.copy(text, o, c.starts[k], c.ends[k])
    }
    const lineOf = (o: number) => {
      let [lo, hi] = [0, n - 1]
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1
        if ((offs[mid] as number) <= o) lo = mid
        else hi = mid - 1
      }
      return lo
    }
    for (const f of forms) {
      for (let o = text.indexOf(f); o >= 0; o = text.indexOf(f, o + 1)) {
        const i = lineOf(o)
        const j = lineOf(o + f.length - 1)
        // The block's width: that of the lines the match crosses out of; for a match within one
        // line, that of the line before it when that is a usual width and no shorter.
        let width: number | null = null
        for (let k = i; k < j; k++) width = Math.max(width ?? 0, len(k))
        if (i === j && i > 0 && WIDTHS.has(len(i - 1)) && len(i) <= len(i - 1)) width = len(i - 1)
        let p = i
        while (p > 0 && width !== null && len(p - 1) === width) p--
        const line = o + f.length - (offs[j] as number)
        const at = (c.starts[j] as number) + line
        const r = runOn(src, at, lineRun(line, width), final)
        ranges.push([c.starts[p] as number, r.end])
        if (r.open) open = r.open
      }
    }
  }
  return { ranges: merge(ranges), open }
}

/** Ranges sorted and overlapping ones joined. */
function merge(ranges: [number, number][]): [number, number][] {
  ranges.sort((a, b) => a[0] - b[0])
  const out: [number, number][] = []
  for (const r of ranges) {
    const last = out.at(-1)
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1])
    else out.push([r[0], r[1]])
  }
  return out
}
