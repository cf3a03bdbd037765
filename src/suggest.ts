// "Did you mean ...?" for names a caller got wrong: body fields, environments, classes, providers.

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost)
    }
    prev = cur
  }
  return prev[b.length] ?? 0
}

/**
 * The candidate a mistyped `name` most likely meant: one that contains it or is contained in it
 * (`ttl` -> `ttl_seconds`), else the closest within a few edits; null when nothing is close.
 */
export function nearest(name: string, candidates: Iterable<string>): string | null {
  const n = name.toLowerCase()
  let best: string | null = null
  let bestScore = Infinity
  for (const c of candidates) {
    const l = c.toLowerCase()
    if (l === n) return c
    const contains = n.length >= 2 && (l.includes(n) || n.includes(l))
    const d = distance(n, l)
    const score = contains ? d / 100 : d
    const near = contains || d <= Math.max(1, Math.min(3, Math.floor(Math.max(n.length, l.length) / 3)))
    if (near && score < bestScore) {
      best = c
      bestScore = score
    }
  }
  return best
}

/** ` (did you mean x?)` or nothing. */
export const didYouMean = (name: string, candidates: Iterable<string>): string => {
  const n = nearest(name, candidates)
  return n ? ` (did you mean ${n}?)` : ''
}

/** "unknown environment 'stagign' (did you mean staging?); configured: staging, prod". */
export function unknownName(what: string, name: string, valid: Iterable<string>): string {
  const list = [...valid]
  return `unknown ${what} '${name}'${didYouMean(name, list)}; configured: ${list.join(', ') || 'none'}`
}
