// A cap on sign-in attempts per client address and minute, in this process. Each OIDC sign-in
// that starts writes a state record to the store (for ten minutes); without a cap, anyone could
// fill Redis with them. An API-key attempt counts too (keys are long random strings; this only
// keeps a guesser slow).
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
      const n = (counts.get(who) ?? 0) + 1
      if (counts.size < 100_000 || counts.has(who)) counts.set(who, n)
      return n <= perMinute
    },
  }
}
