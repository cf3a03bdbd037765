// createCounter: a fixed-window counter (types.ts) in the backend the config chose (src/backend.ts).
import type { Backend } from '../backend.js'
import { redisKeys } from '../store/keys.js'
import { memoryCounter } from './memory.js'
import { redisCounter } from './redis.js'
import type { Counter } from './types.js'

export type { Counter, Taken } from './types.js'

/** Airlock's counters, by the name of their keys' namespace (src/store/keys.ts). */
export type CounterName = 'rateLimit' | 'gatewayCalls'

export function createCounter(backend: Backend, name: CounterName, windowMs: number): Counter {
  return backend.kind === 'redis'
    ? redisCounter(backend.redis, redisKeys(backend.prefix)[name], windowMs)
    : memoryCounter(windowMs, () => backend.clock.now())
}
