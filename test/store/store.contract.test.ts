// The store contract (test/support/store-contract.ts) on the memory store and on one Redis.
import { describe } from 'vitest'
import { storeContract } from '../support/store-contract.js'
import { localRedisKind, memoryKind } from '../support/store-kinds.js'

describe.each([memoryKind, localRedisKind])('$name store contract', storeContract)
