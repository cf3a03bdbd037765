// The line breaks base64 is wrapped with, and the indentation after them: real LF, CRLF and a lone
// CR; the JSON escapes `\n`, `\r\n`, `\u000a` and `\u000d\u000a` (hex digits in either case), as a
// JSON string holds wrapped text; then up to INDENT_MAX spaces or tabs, as a YAML `|` block,
// pretty-printed XML or indented text in a JSON string start each line of a block.

export const LF = 0x0a
export const CR = 0x0d
export const BS = 0x5c
const SP = 0x20
const TAB = 0x09

/** Indentation longer than this does not start a line of a block (and bounds what a stream holds). */
export const INDENT_MAX = 64

const BREAKS = ['\n', '\r\n', '\r', '\\n', '\\r\\n']
for (const a of 'aA') {
  BREAKS.push(`\\u000${a}`)
  for (const d of 'dD') BREAKS.push(`\\u000${d}\\u000${a}`)
}
/** The longest break, in bytes. */
export const BREAK_MAX = Math.max(...BREAKS.map((b) => b.length))
/** The most a break and its indentation take. */
export const BREAK_SPAN = BREAK_MAX + INDENT_MAX

/** Each break's beginnings, and whether they are a whole break (`\r` is, and begins `\r\n`). */
const PREFIX = new Map<string, boolean>()
for (const b of BREAKS)
  for (let i = 1; i <= b.length; i++)
    PREFIX.set(b.slice(0, i), PREFIX.get(b.slice(0, i)) === true || i === b.length)

/** The last bytes of a break's beginnings that are not whole breaks (`\`, `\r`, `\u000`, `\u000d`). */
const PART_END = new Set<number>()
for (const [p, whole] of PREFIX) if (!whole) PART_END.add(p.charCodeAt(p.length - 1))

const isIndent = (c: number) => c === SP || c === TAB
export const startsBreak = (c: number): boolean => c === LF || c === CR || c === BS

/**
 * What `bytes` (a break's first byte on) are: the beginning of a break ('part'), a whole break with
 * no more than INDENT_MAX of indentation after it ('whole'), or neither (null).
 */
export function breakKind(bytes: readonly number[]): 'part' | 'whole' | null {
  let end = bytes.length
  while (end > 0 && isIndent(bytes[end - 1] as number)) end--
  const whole = PREFIX.get(String.fromCharCode(...bytes.slice(0, end)))
  if (whole === undefined || (end < bytes.length && !whole) || bytes.length - end > INDENT_MAX) return null
  return whole ? 'whole' : 'part'
}

/** The length of the break starting at `at` with the indentation after it, 0 if none. */
export function breakAt(src: Buffer, at: number): number {
  const c = src[at] as number
  let len = 0
  if (c === LF) len = 1
  else if (c === CR) len = src[at + 1] === LF ? 2 : 1
  else if (c === BS) {
    const n = src[at + 1]
    if (n === 0x6e) len = 2
    else if (n === 0x72) len = src[at + 2] === BS && src[at + 3] === 0x6e ? 4 : 0
    else if (n === 0x75) len = escapedBreak(src, at)
  }
  if (len === 0) return 0
  let end = at + len
  while (end < src.length && end - at - len < INDENT_MAX && isIndent(src[end] as number)) end++
  return end - at
}

/** `\u000a` or `\u000d\u000a` at `at`: its length, else 0. */
function escapedBreak(src: Buffer, at: number): number {
  for (const len of [12, 6]) {
    if (at + len > src.length) continue
    if (PREFIX.get(src.toString('latin1', at, at + len)) === true) return len
  }
  return 0
}

/**
 * The length of the break and indentation that end right before `at`, 0 if none; at the very end
 * of `src`, a break's beginning too (the next chunk may make it whole).
 */
export function breakBefore(src: Buffer, at: number): number {
  let end = at
  while (end > 0 && at - end < INDENT_MAX && isIndent(src[end - 1] as number)) end--
  const whole = wholeBefore(src, end)
  if (whole > 0) return at - end + whole
  if (end < src.length || !PART_END.has(src[end - 1] as number)) return 0
  for (let k = Math.min(BREAK_MAX - 1, end); k > 0; k--)
    if (PREFIX.get(src.toString('latin1', end - k, end)) === false) return k
  return 0
}

/** The length of the whole break that ends right before `end`, 0 if none. */
function wholeBefore(src: Buffer, end: number): number {
  const c = src[end - 1]
  if (c === LF) return src[end - 2] === CR ? 2 : 1
  if (c === CR) return 1
  // Most calls are on a base64 character that ends no break: answered here.
  if (c === 0x6e) return src[end - 2] !== BS ? 0 : src[end - 3] === 0x72 && src[end - 4] === BS ? 4 : 2
  if (c === undefined || (c | 0x20) !== 0x61 || src[end - 2] !== 0x30 || end < 6) return 0
  const escaped = (len: number) => end >= len && PREFIX.get(src.toString('latin1', end - len, end)) === true
  return escaped(12) ? 12 : escaped(6) ? 6 : 0
}
