/** Milliseconds since the epoch. Injected everywhere time matters, so tests can move it. */
export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

export { iso } from './domain/time.js'
