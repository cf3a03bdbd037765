// The job queue contract (test/support/queue-contract.ts) in memory and on one Redis.
import { describe } from 'vitest'
import { queueContract } from './support/queue-contract.js'
import { localRedisQueueKind, memoryQueueKind } from './support/queue-kinds.js'

describe.each([memoryQueueKind, localRedisQueueKind])('$name queue contract', queueContract)
