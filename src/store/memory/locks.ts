// Locks in memory.
import type { LockStore } from '../types.js'
import type { MemoryState } from './state.js'

export function memoryLocks({ locks }: MemoryState): LockStore {
  return {
    async putLock(lock) {
      locks.set(lock.id, lock)
    },
    async deleteLock(id) {
      const l = locks.get(id) ?? null
      locks.delete(id)
      return l
    },
    async listLocks() {
      return [...locks.values()]
    },
  }
}
