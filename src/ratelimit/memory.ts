// The counter in this process's memory (`airlock dev` and tests): exact, one window per key.
import type { Counter } from './types.js'

/** Keys remembered at most; expired windows go first, then all (a new window for each). */
const MAX_KEYS = 10_000

export function memoryCounter(windowMs: number, now: () => number = Date.now): Counter {
  const windows = new Map<string, { count: number; until: number }>()
  return {
    take(key) {
      const t = now()
      let w = windows.get(key)
      if (!w || w.until <= t) {
        if (windows.size >= MAX_KEYS) {
          for (const [k, v] of windows) if (v.until <= t) windows.delete(k)
          if (windows.size >= MAX_KEYS) windows.clear()
        }
        w = { count: 0, until: t + windowMs }
        windows.set(key, w)
      }
      w.count++
      return Promise.resolve({ count: w.count, resetMs: w.until - t })
    },
  }
}
