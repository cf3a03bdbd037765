// Awaiting an event that may never come (a change notification, a woken watcher) without letting a
// lost event end as a test timeout: race it against a bounded wait and assert on the outcome.
import { expect } from 'vitest'

/** How long an event that should come at once may take on a loaded machine. */
export const EVENT_MS = 10_000

/** Whether `p` settles within `ms` (for "must not have happened" checks as well). */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  try {
    return await Promise.race([p.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * `p`'s value once it settles; an assertion failure saying `what` did not happen when it does not
 * settle within `ms`.
 */
export async function arrives<T>(p: Promise<T>, what: string, ms = EVENT_MS): Promise<T> {
  expect(await settlesWithin(p, ms), `expected ${what} within ${ms} ms`).toBe(true)
  return p
}
