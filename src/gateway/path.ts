// Path containment: what follows `/gw/{provider}` is appended to the upstream's base path and can
// never leave it. Dot segments (plain or encoded, with `;` parameters or not), empty segments (`//host`), backslashes, encoded
// slashes and double encoding are refused rather than normalised: a client that sends them is
// either broken or probing, and upstreams disagree on how to read them.

export interface Contained {
  /** The path relative to the upstream base, as sent (still percent-encoded); '' for the root. */
  path: string
  /** The query string with its '?', or ''. */
  query: string
  /** Decoded segments for rule matching, without a trailing empty one. */
  segments: string[]
}

// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\\\x00-\x20\x7f#]|%(2f|5c|25|00)/i

/** The contained path of a raw request URL under `prefix` (`/gw/railway`), or why it is refused. */
export function containPath(rawUrl: string, prefix: string): Contained | string {
  const q = rawUrl.indexOf('?')
  const pathPart = q < 0 ? rawUrl : rawUrl.slice(0, q)
  const query = q < 0 ? '' : rawUrl.slice(q)
  if (!pathPart.startsWith(prefix)) return 'the path must start with the gateway URL'
  const path = pathPart.slice(prefix.length)
  if (path !== '' && !path.startsWith('/')) return 'the path must start with the gateway URL'
  if (FORBIDDEN.test(path) || /[\\#]/.test(query))
    return 'the path may not contain backslashes, encoded slashes, %25, control characters or spaces'
  const raw = path === '' ? [] : path.slice(1).split('/')
  const segments: string[] = []
  for (let i = 0; i < raw.length; i++) {
    const s = raw[i] as string
    if (s === '') {
      if (i === raw.length - 1) break // a trailing slash
      return 'the path may not contain empty segments (//)'
    }
    let d: string
    try {
      d = decodeURIComponent(s)
    } catch {
      return 'the path has a malformed %-encoding'
    }
    // `..;x` too: servlet containers drop a segment's `;` parameters, then read a dot segment.
    const bare = d.split(';', 1)[0]
    if (bare === '.' || bare === '..') return 'the path may not contain . or .. segments'
    segments.push(d)
  }
  return { path: path === '/' ? '' : path, query, segments }
}

/**
 * The upstream URL for a contained path. Checked once more with the URL parser: it must keep the
 * upstream's origin and base path (a last line, should containPath ever let something through).
 */
export function upstreamUrl(base: string, c: Contained): URL | null {
  const u = new URL(base + c.path + c.query)
  const b = baseUrl(base)
  if (u.origin !== b.origin) return null
  if (b.pathname !== '/' && u.pathname !== b.pathname && !u.pathname.startsWith(`${b.pathname}/`)) return null
  return u
}

/** The upstream base URLs, parsed once: a config holds a few. */
const bases = new Map<string, { origin: string; pathname: string }>()
function baseUrl(base: string): { origin: string; pathname: string } {
  let b = bases.get(base)
  if (!b) {
    const u = new URL(base)
    b = { origin: u.origin, pathname: u.pathname }
    if (bases.size >= 100) bases.clear()
    bases.set(base, b)
  }
  return b
}
