// Base64 wrapped over lines: GitHub's contents API breaks a file's base64 every 60 characters with
// a `\n` escape inside its JSON string, MIME and PEM every 76 or 64 with a real LF or CRLF; a YAML
// `|` block or pretty-printed XML indents each line (the breaks are those of line-break.ts). A form
// of the credential may then be cut by a break anywhere, so runs of base64 joined by breaks (a
// base64 character right before and after) are searched with the breaks taken out, and a match is
// widened to its wrapped block: the lines of the block's width around it (a wrapped encoding has
// every line but the last of one width), the breaks between them, its padding. Text on the lines
// before and after a block (a PEM label, `before`, `next: yes`) is of another width or does not end
// as a line of base64 does, and stays.
import { B64, isB64, lineRun, runOn, WIDTHS, type RunState } from './base64-run.js'
import { breakAt, BS, CR, LF } from './line-break.js'

/** The JSON escapes `\n` and `\u000` (of `\u000a`), as searched for. */
const ESCAPED_LF = Buffer.from('\\n')
const ESCAPED_U = Buffer.from('\\u000')
/** What `\u000` holds: a search for a backslash's escape is slow where there are many backslashes. */
const ZEROS = Buffer.from('000')

/** Whether `src` has a line break at all: most answers have none, and are not searched further. */
export const mayWrap = (src: Buffer | string): boolean =>
  typeof src === 'string'
    ? src.includes('\n') || src.includes('\r') || src.includes('\\n') || src.includes('\\u000')
    : src.indexOf(LF) >= 0 ||
      src.indexOf(CR) >= 0 ||
      (src.indexOf(BS) >= 0 &&
        (src.indexOf(ESCAPED_LF) >= 0 || (src.indexOf(ZEROS) >= 0 && src.indexOf(ESCAPED_U) >= 0)))

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

/** Where the break holding the LF, CR or escape found at `hit` starts (`\r\n` at its `\r`). */
function breakStart(src: Buffer, hit: number): number {
  const c = src[hit] as number
  if (c === CR) return hit
  if (c === LF) return hit > 0 && (src[hit - 1] as number) === CR ? hit - 1 : hit
  if (src[hit + 1] === 0x6e)
    return hit >= 2 && (src[hit - 1] as number) === 0x72 && (src[hit - 2] as number) === BS ? hit - 2 : hit
  // `\u000a` after `\u000d`: their first byte, the other's `d` the last one before.
  return hit >= 6 && (src[hit - 1]! | 0x20) === 0x64 && breakAt(src, hit - 6) >= 12 ? hit - 6 : hit
}

/**
 * The characters and end of the chain whose first line is [start, at), its lines put in `into`;
 * without `into`, it stops once it has `upTo` characters (whether the chain is that long).
 */
function walk(src: Buffer, start: number, at: number, upTo: number, into: Chain | null): [number, number] {
  let chars = at - start
  let end = at
  into?.starts.push(start)
  into?.ends.push(at)
  for (let len = joins(src, end); len > 0 && chars < upTo; len = joins(src, end)) {
    let e = end + len
    while (e < src.length && B64[src[e] as number] === 1) e++
    into?.starts.push(end + len)
    into?.ends.push(e)
    chars += e - end - len
    end = e
  }
  return [chars, end]
}

/** The chains of `src` of at least `min` characters. Only LFs, CRs and escapes are looked at. */
function chains(src: Buffer, min: number): Chain[] {
  const out: Chain[] = []
  // An escape (`\n`, `\r\n`, `\u000a`) is found by its backslash: a byte is searched for far faster.
  const escape = (from: number) => {
    let at = src.indexOf(BS, from)
    for (let n = src[at + 1]; at >= 0 && n !== 0x6e && n !== 0x72 && n !== 0x75; n = src[at + 1])
      at = src.indexOf(BS, at + 1)
    return at
  }
  let lf = src.indexOf(LF)
  let cr = src.indexOf(CR)
  let esc = escape(0)
  let floor = 0
  while (lf >= 0 || cr >= 0 || esc >= 0) {
    // The first of the three (a closure here costs a third of the search on text of short lines).
    let hit = lf < 0 ? Infinity : lf
    if (cr >= 0 && cr < hit) hit = cr
    if (esc >= 0 && esc < hit) hit = esc
    const at = breakStart(src, hit)
    if (at >= floor && joins(src, at) > 0) {
      let start = at
      while (start > floor && isB64(src[start - 1] as number)) start--
      // Lines are recorded only for a chain long enough to hold a form (text's `one\nline` is not).
      let [chars, end] = walk(src, start, at, min, null)
      if (chars >= min) {
        const c: Chain = { starts: [], ends: [], chars: 0 }
        ;[chars, end] = walk(src, start, at, Infinity, c)
        c.chars = chars
        out.push(c)
      }
      floor = end
    }
    // A CRLF is taken at its CR: its LF is not looked at again.
    const from = Math.max(src[hit] === CR && src[hit + 1] === LF ? hit + 2 : hit + 1, floor)
    if (lf >= 0 && lf < from) lf = src.indexOf(LF, from)
    if (cr >= 0 && cr < from) cr = src.indexOf(CR, from)
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
