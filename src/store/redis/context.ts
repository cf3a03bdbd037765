// What the parts of the Redis store share: the client, the key names, the Lua scripts (defined
// once, acknowledged by the replicas where the change is one people are told about), and the
// lock index keys of a scope.
import type { LockScope, SessionRecord } from '../../domain/index.js'
import { scopeOf } from '../../domain/session.js'
import { guard, type RedisClient } from '../../redis/client.js'
import type { Script } from '../../redis/script.js'
import { decodeRecord } from '../codec.js'
import type { Keys } from '../keys.js'
import { scopeCombos } from '../keys.js'

export type { Script } from '../../redis/script.js'

export { guard }

export interface RedisContext {
  redis: RedisClient
  k: Keys
  /** A script run on the shared connection. */
  script(name: string, src: string): Script
  /**
   * A state change people are told about: acknowledged by the replicas when configured. A reply
   * that says nothing was written (`wrote` false: a conflict, a lock, a retry with more keys)
   * needs no acknowledgement.
   */
  acked(name: string, src: string, wrote?: (reply: unknown) => boolean): Script
  /** The locks hash and the 15 lock index keys that could match a scope. */
  lockKeys(scope: LockScope): string[]
  recLockKeys(rec: SessionRecord): string[]
}

export const parse = (json: string | null): SessionRecord | null => (json ? decodeRecord(json) : null)

/** The from-states of a change as the scripts take them: ',a,b,', or '' for any status. */
export const fromList = (from: readonly string[] | undefined): string => (from ? `,${from.join(',')},` : '')

/** The 16 lock keys of a scope (the locks hash and 15 index keys), cached: most traffic comes from few agents, environments and tasks. */
export function lockKeysOf(k: Keys): {
  lockKeys(scope: LockScope): string[]
  recLockKeys(rec: SessionRecord): string[]
} {
  const cache = new Map<string, string[]>()
  const lockKeys = (scope: LockScope): string[] => {
    const id = `${scope.agent}\0${scope.environment}\0${scope.provider}\0${scope.task_id}`
    let keys = cache.get(id)
    if (!keys) {
      keys = [k.locks, ...scopeCombos(scope).map(k.lockIndex)]
      if (cache.size >= 10_000) cache.clear()
      cache.set(id, keys)
    }
    return keys
  }
  return { lockKeys, recLockKeys: (rec) => lockKeys(scopeOf(rec)) }
}
