// The `*` patterns of the policy rules and the operation classes.
/**
 * `*` matches any run of characters (including none); every other character matches only itself.
 * Deliberately not a RegExp: nothing in a pattern can act as regex syntax, and the two-pointer walk
 * cannot backtrack exponentially on patterns like `*a*a*a*b`.
 */
export function matches(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value
  let p = 0
  let v = 0
  let star = -1 // position of the last `*` seen in pattern
  let mark = 0 // where in value that `*` started consuming
  while (v < value.length) {
    if (pattern[p] === '*') {
      star = p++
      mark = v
    } else if (p < pattern.length && pattern[p] === value[v]) {
      p++
      v++
    } else if (star !== -1) {
      // Let the last `*` swallow one more character and retry from there.
      p = star + 1
      v = ++mark
    } else {
      return false
    }
  }
  while (pattern[p] === '*') p++
  return p === pattern.length
}
