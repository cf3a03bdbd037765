// In-process waiters for session changes, shared by both stores: the memory store wakes them
// directly, the Redis store from its pub/sub subscription. Waiters on ANY_SESSION hear every change.
import { ANY_SESSION } from './types.js'

export function createWaiters() {
  const waiters = new Map<string, Set<() => void>>()
  return {
    wake(id: string) {
      for (const w of waiters.get(id) ?? []) w()
      for (const w of waiters.get(ANY_SESSION) ?? []) w()
    },
    wakeAll() {
      for (const set of waiters.values()) for (const w of set) w()
    },
    /** Resolves on the next wake(id), after `ms`, or when `signal` aborts. */
    wait(id: string, ms: number, signal?: AbortSignal): Promise<void> {
      return new Promise<void>((resolve) => {
        const set = waiters.get(id) ?? new Set()
        waiters.set(id, set)
        const done = () => {
          clearTimeout(timer)
          set.delete(done)
          if (set.size === 0) waiters.delete(id)
          signal?.removeEventListener('abort', done)
          resolve()
        }
        const timer = setTimeout(done, ms)
        set.add(done)
        signal?.addEventListener('abort', done, { once: true })
      })
    },
  }
}
