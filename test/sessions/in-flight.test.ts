// Decisions in flight, counted per runtime: what a reload waits for before it judges sessions.
import { describe, expect, it } from 'vitest'
import type { Runtime } from '../../src/runtime.js'
import { createDecisionsInFlight } from '../../src/sessions/in-flight.js'

const runtimes = () => {
  const old = { config: {} } as Runtime
  const now = { config: {} } as Runtime
  let current = old
  return { old, now, swap: () => (current = now), inFlight: createDecisionsInFlight(() => current) }
}

describe('decisions in flight', () => {
  it('settles at once when none is in flight, and when the last one of that runtime is done', async () => {
    const { old, swap, inFlight } = runtimes()
    expect(await inFlight.settled(old, 60_000, () => {})).toBe(true)
    const a = inFlight.begin()
    const b = inFlight.begin()
    expect(a.rt).toBe(old)
    swap()
    // One taken under the new runtime is not waited for.
    const c = inFlight.begin()
    let settled = false
    const waiting = inFlight.settled(old, 60_000, () => {}).then((v) => (settled = v))
    a.done()
    a.done() // counted once
    await Promise.resolve()
    expect(settled).toBe(false)
    b.done()
    expect(await waiting).toBe(true)
    c.done()
  })

  it('gives up after the bound, then tells of each decision as it settles', async () => {
    const { old, swap, inFlight } = runtimes()
    const a = inFlight.begin()
    const b = inFlight.begin()
    swap()
    let late = 0
    expect(await inFlight.settled(old, 10, () => late++)).toBe(false)
    a.done()
    b.done()
    b.done()
    expect(late).toBe(2)
  })
})
