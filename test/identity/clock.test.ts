// iso() caches recent instants: values sharing a cache slot must never be confused.
import { describe, expect, it } from 'vitest'
import { iso } from '../../src/clock.js'

describe('iso', () => {
  it('formats like toISOString, also for instants that share a cache slot, in any order', () => {
    const base = Date.parse('2030-01-01T00:00:00.000Z')
    const instants = [base, base + 64, base + 128, base + 1, base - 64, 0, -1, base + 1000 * 64]
    for (let round = 0; round < 3; round++) {
      for (const ms of round === 1 ? [...instants].reverse() : instants) {
        expect(iso(ms)).toBe(new Date(ms).toISOString())
      }
    }
  })

  it('still refuses an invalid time', () => {
    expect(() => iso(Number.NaN)).toThrow(RangeError)
    expect(() => iso(8.64e15 + 1)).toThrow(RangeError)
  })
})
