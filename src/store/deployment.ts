// The deployment id (ProviderContext.instanceId): random, created once in the store by the first
// broker to start (SET NX), then read by every replica and every restart. The key prefix alone is
// not unique: two deployments on one PostgreSQL server often both keep the default `airlock:`.
import { randomBytes } from 'node:crypto'
import type { Backend } from './backend.js'
import { redisKeys } from './keys.js'

const newDeploymentId = (): string => `dep_${randomBytes(12).toString('hex')}`

/** With the memory store (`airlock dev`, tests) every broker is its own deployment. */
export async function deploymentId(backend: Backend): Promise<string> {
  if (backend.kind === 'memory') return newDeploymentId()
  const { redis } = backend
  const key = redisKeys(backend.prefix).deployment
  await redis.set(key, newDeploymentId(), 'NX')
  const id = await redis.get(key)
  if (!id) throw new Error(`the deployment id (${key}) vanished from Redis right after it was written`)
  return id
}
