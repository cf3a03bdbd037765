// Failed provider revocations waiting for their retry, in memory. Kept apart from the rest of
// the store: this queue is due to be replaced as a whole.
import type { RevocationJob, RevocationStore } from '../types.js'

export function memoryRevocations(): RevocationStore {
  const queue = new Map<string, { job: RevocationJob; due: number }>()
  return {
    async enqueueRevocation(job, dueAt) {
      queue.set(job.id, { job, due: dueAt })
    },
    async claimRevocations(now, leaseMs, limit) {
      const due = [...queue.values()]
        .filter((q) => q.due <= now)
        .sort((a, b) => a.due - b.due)
        .slice(0, limit)
      for (const q of due) q.due = now + leaseMs
      return due.map((q) => q.job)
    },
    async finishRevocation(claimed, now) {
      const q = queue.get(claimed.id)
      if (!q) return
      if (JSON.stringify(q.job) === JSON.stringify(claimed)) queue.delete(claimed.id)
      else q.due = now // replaced while claimed: the replacement is due at once
    },
    async retryRevocation(claimed, next, dueAt, now) {
      const q = queue.get(claimed.id)
      if (!q) return
      if (JSON.stringify(q.job) === JSON.stringify(claimed)) queue.set(claimed.id, { job: next, due: dueAt })
      else q.due = now
    },
    async revocationBacklog() {
      return queue.size
    },
  }
}
