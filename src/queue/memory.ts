// The in-memory queue (`airlock dev`, tests). JavaScript runs each method to completion, which gives
// the atomicity the Redis queue gets from Lua. Jobs are kept as JSON, like in Redis: a caller
// changing a job it queued or claimed changes nothing here.
import type { Queue } from './types.js'

export function memoryQueue<T>(idOf: (job: T) => string): Queue<T> {
  const jobs = new Map<string, { json: string; due: number }>()
  /** The job under `claimed`'s id, and whether it is still the claimed one. */
  const current = (claimed: T) => {
    const cur = jobs.get(idOf(claimed))
    return { cur, same: cur?.json === JSON.stringify(claimed) }
  }
  return {
    async put(job, dueAt, opts = {}) {
      const id = idOf(job)
      const prev = jobs.get(id)
      const due = opts.keepLater && prev ? Math.max(prev.due, dueAt) : dueAt
      jobs.set(id, { json: JSON.stringify(job), due })
    },
    async get(id) {
      const cur = jobs.get(id)
      return cur ? (JSON.parse(cur.json) as T) : null
    },
    async claim(now, leaseMs, limit) {
      const due = [...jobs.entries()]
        .filter(([, j]) => j.due <= now)
        .sort(([a, x], [b, y]) => x.due - y.due || (a < b ? -1 : 1))
        .slice(0, limit)
      for (const [, j] of due) j.due = now + leaseMs
      return due.map(([, j]) => JSON.parse(j.json) as T)
    },
    async finish(claimed, now) {
      const { cur, same } = current(claimed)
      if (same) jobs.delete(idOf(claimed))
      else if (cur) cur.due = now
    },
    async retry(claimed, next, dueAt, now) {
      const { cur, same } = current(claimed)
      if (same) jobs.set(idOf(claimed), { json: JSON.stringify(next), due: dueAt })
      else if (cur) cur.due = now
    },
    async size() {
      return jobs.size
    },
  }
}
