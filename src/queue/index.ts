// createQueue: the job queue (types.ts) of one of Airlock's queues (src/store/keys.ts QUEUES), in
// the backend the config chose (src/backend.ts).
import type { Backend } from '../backend.js'
import type { QueueName } from '../store/keys.js'
import { memoryQueue } from './memory.js'
import { redisQueue } from './redis.js'
import type { Queue } from './types.js'

export type { Queue } from './types.js'

/** `idOf` names a job: queueing a job under an id already queued replaces that job. */
export function createQueue<T>(backend: Backend, name: QueueName, idOf: (job: T) => string): Queue<T> {
  return backend.kind === 'redis' ? redisQueue(backend.redis, backend.prefix, name, idOf) : memoryQueue(idOf)
}
