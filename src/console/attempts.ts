// A cap on sign-in attempts per client address and minute, in this process. Each OIDC sign-in
// that starts writes a state record to the store (for ten minutes); without a cap, anyone could
// fill Redis with them. An API-key attempt counts too (keys are long random strings; this only
// keeps a guesser slow).
const MAX_ADDRESSES = 100_000
const OVERFLOW = ' overflow'

export function attemptLimiter(perMinute: number, now: () => number = Date.now) {
  let window = 0
  const counts = new Map<string, number>()
  return {
    /** False when `who` made `perMinute` attempts in the current minute already. */
    allow(who: string): boolean {
      const w = Math.floor(now() / 60_000)
      if (w !== window) {
        window = w
        counts.clear()
      }
      // Past the table's size, new addresses share one budget (so a flood of them is still capped).
      const key = counts.size < MAX_ADDRESSES || counts.has(who) ? who : OVERFLOW
      const n = (counts.get(key) ?? 0) + 1
      counts.set(key, n)
      return n <= perMinute
    },
  }
}
