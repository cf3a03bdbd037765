// The store contract (test/support/store-contract.ts) on the memory store and on one Redis.
import { describe, inject } from 'vitest'
import { createMemoryStore } from '../src/store/memory.js'
import { deletePrefix, TestClock } from './helper.js'
import { redisKind, storeContract, type Kind } from './support/store-contract.js'

const memoryKind: Kind = {
  name: 'memory',
  async open() {
    const clock = new TestClock()
    const store = createMemoryStore(clock)
    return {
      store,
      now: () => clock.now(),
      peer: async () => store,
      async expireLease(_name, ttlMs) {
        clock.advance(ttlMs + 1)
      },
      async passAuditTime() {
        clock.advance(1000)
        return clock.now()
      },
      close: () => store.close(),
    }
  },
}

const url = inject('redisUrl')

describe.each([
  memoryKind,
  redisKind(
    'redis',
    () => url,
    (prefix) => deletePrefix(url, prefix),
  ),
])('$name store contract', storeContract)
