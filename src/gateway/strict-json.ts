// JSON read as the gateway must read what it checks or binds: the value the upstream will act on,
// and nothing that parsers read differently. JSON.parse keeps the last of two equal keys where
// others keep the first, and rounds an integer past 2^53 into its neighbour, so a body could be
// checked (or approved) as one call and run as another. Here a repeated key is refused, and a
// number either keeps its exact text (`exact`: for an approved action's digest) or, when it would
// not survive as a JavaScript number, is refused (for classification).

/** A number as written, for a digest that must tell 9007199254740993 from 9007199254740992. */
export class ExactNumber {
  constructor(readonly text: string) {}
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const MAX_DEPTH = 512

class Refused extends Error {}

/**
 * The value of a JSON text, or a sentence about `what` (the body, variables) saying why it is
 * refused: not JSON, a key given twice, nesting too deep, or (without `exact`) a number
 * JavaScript cannot hold exactly.
 */
export function parseStrictJson(
  text: string,
  opts: { exact?: boolean; what?: string } = {},
): { value: unknown } | string {
  const what = opts.what ?? 'the body'
  if (!opts.exact) {
    // The native parser, then a check that it dropped no key: as many keys as key tokens in the
    // text. Anything else (a repeated key, an inexact integer, deep nesting) is read again below,
    // which names it.
    let value: unknown
    try {
      value = JSON.parse(text) as unknown
    } catch {
      return `${what} is not valid JSON`
    }
    const keys = keysIn(value, 0)
    if (keys >= 0 && keys === keyTokens(text)) return { value }
  }
  return readStrictly(text, what, opts.exact === true)
}

/** The keys of every object in a value; -1 when it holds an inexact integer or nests too deep. */
function keysIn(v: unknown, depth: number): number {
  // Past 2^53, or past Number.MAX_VALUE (Infinity): read again, which tells an integer by its text.
  if (typeof v === 'number') return Number.isSafeInteger(v) || (Number.isFinite(v) && v % 1 !== 0) ? 0 : -1
  if (typeof v !== 'object' || v === null) return 0
  if (depth > MAX_DEPTH) return -1
  let n = 0
  if (Array.isArray(v)) {
    for (const x of v) {
      const k = keysIn(x, depth + 1)
      if (k < 0) return -1
      n += k
    }
    return n
  }
  for (const k in v) {
    const c = keysIn((v as Record<string, unknown>)[k], depth + 1)
    if (c < 0) return -1
    n += c + 1
  }
  return n
}

/** How many strings in a valid JSON text are followed by a colon: its object keys, repeats included. */
function keyTokens(text: string): number {
  let n = 0
  let i = text.indexOf('"')
  while (i >= 0) {
    // The closing quote: the next one not escaped by an odd run of backslashes.
    let end = text.indexOf('"', i + 1)
    for (;;) {
      let b = end - 1
      while (text.charCodeAt(b) === 0x5c) b--
      if ((end - 1 - b) % 2 === 0) break
      end = text.indexOf('"', end + 1)
    }
    let j = end + 1
    for (let c = text.charCodeAt(j); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;)
      c = text.charCodeAt(++j)
    if (text.charCodeAt(j) === 0x3a) n++
    i = text.indexOf('"', j)
  }
  return n
}

function readStrictly(text: string, what: string, exact: boolean): { value: unknown } | string {
  let i = 0
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i)
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++
      else return
    }
  }
  const fail = (why = `${what} is not valid JSON`): never => {
    throw new Refused(why)
  }
  const string = (): string => {
    const start = i
    i++ // the opening quote
    let escaped = false
    for (;;) {
      const c = text.charCodeAt(i)
      if (Number.isNaN(c)) fail()
      i++
      if (c === 0x5c) {
        escaped = true
        i++
      } else if (c === 0x22) break
    }
    const raw = text.slice(start, i)
    if (!escaped) {
      // eslint-disable-next-line no-control-regex
      if (/[\x00-\x1f]/.test(raw)) fail()
      return raw.slice(1, -1)
    }
    try {
      return JSON.parse(raw) as string
    } catch {
      return fail()
    }
  }
  const literal = (word: string, v: boolean | null) => {
    if (!text.startsWith(word, i)) fail()
    i += word.length
    return v
  }
  const value = (depth: number): unknown => {
    if (depth > MAX_DEPTH) fail(`${what} nests deeper than ${MAX_DEPTH} levels`)
    ws()
    const c = text.charCodeAt(i)
    if (c === 0x7b /* { */) {
      i++
      const o: Record<string, unknown> = {}
      ws()
      if (text.charCodeAt(i) === 0x7d) {
        i++
        return o
      }
      for (;;) {
        ws()
        if (text.charCodeAt(i) !== 0x22) fail()
        const k = string()
        if (Object.hasOwn(o, k))
          fail(`${what} gives the key ${JSON.stringify(k).slice(0, 60)} twice in one object`)
        ws()
        if (text.charCodeAt(i) !== 0x3a) fail()
        i++
        const v = value(depth + 1)
        // As JSON.parse makes it: an own property, even `__proto__`.
        if (k === '__proto__')
          Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
        else o[k] = v
        ws()
        const next = text.charCodeAt(i++)
        if (next === 0x7d) return o
        if (next !== 0x2c) fail()
      }
    }
    if (c === 0x5b /* [ */) {
      i++
      const a: unknown[] = []
      ws()
      if (text.charCodeAt(i) === 0x5d) {
        i++
        return a
      }
      for (;;) {
        a.push(value(depth + 1))
        ws()
        const next = text.charCodeAt(i++)
        if (next === 0x5d) return a
        if (next !== 0x2c) fail()
      }
    }
    if (c === 0x22) return string()
    if (c === 0x74) return literal('true', true)
    if (c === 0x66) return literal('false', false)
    if (c === 0x6e) return literal('null', null)
    NUMBER.lastIndex = i
    const m = NUMBER.exec(text)
    if (!m) return fail()
    i += m[0].length
    const n = Number(m[0])
    // Told by its text: an integer too long for a double is Infinity, which `n % 1` calls no integer.
    const integer = !/[.eE]/.test(m[0])
    if (exact) return integer && Number.isSafeInteger(n) ? n : new ExactNumber(m[0])
    if (integer && !Number.isSafeInteger(n))
      fail(`${what} holds the number ${m[0].slice(0, 40)}, too large to check exactly: send it as a string`)
    return n
  }
  try {
    const v = value(0)
    ws()
    if (i !== text.length) fail()
    return { value: v }
  } catch (e) {
    if (e instanceof Refused) return e.message
    throw e
  }
}
