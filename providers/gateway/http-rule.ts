// HTTP rules of a gateway class: "METHOD /path/glob", `*` one path segment, `**` any number.
// Matched against the method and the contained, decoded path segments (src/gateway/path.ts).

export interface HttpRule {
  text: string
  /** Upper case, or `*` for every method. */
  method: string
  segments: string[]
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', '*'])
const SEGMENT = /^[A-Za-z0-9._~!$&'()+,;=:@%*-]*$/

/** The rule, or a message saying what is wrong with it. */
export function compileHttpRule(text: unknown): HttpRule | string {
  if (typeof text !== 'string') return 'expected "METHOD /path/glob"'
  const m = /^([A-Za-z*]+) (\/\S*)$/.exec(text.trim())
  if (!m) return 'expected "METHOD /path/glob", like "GET /api/**"'
  const method = (m[1] as string).toUpperCase()
  if (!METHODS.has(method))
    return `unknown method ${m[1]} (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or *)`
  const segments = (m[2] as string).split('/').slice(1)
  if (segments.at(-1) === '') segments.pop()
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..' || !SEGMENT.test(s))
      return `the path ${m[2]} has an empty, dot or invalid segment`
    if (s.includes('**') && s !== '**') return '** must be a whole segment'
  }
  return { text: text.trim(), method, segments }
}

function segmentMatches(pattern: string, value: string): boolean {
  if (pattern === '*') return true
  if (!pattern.includes('*')) return pattern === value
  const re = new RegExp(`^${pattern.split('*').map(escape).join('[^/]*')}$`)
  return re.test(value)
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

function pathMatches(pattern: string[], path: string[], pi = 0, si = 0): boolean {
  if (pi === pattern.length) return si === path.length
  const p = pattern[pi] as string
  if (p === '**') {
    for (let k = si; k <= path.length; k++) if (pathMatches(pattern, path, pi + 1, k)) return true
    return false
  }
  return (
    si < path.length && segmentMatches(p, path[si] as string) && pathMatches(pattern, path, pi + 1, si + 1)
  )
}

/** Whether a rule allows `method` on the decoded path segments (no trailing empty segment). */
export const ruleAllows = (rule: HttpRule, method: string, segments: string[]): boolean =>
  (rule.method === '*' || rule.method === method) && pathMatches(rule.segments, segments)
