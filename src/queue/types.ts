// A durable job queue with leases: jobs wait until due, a worker claims a batch (hiding each job for
// a lease, so a crashed worker's jobs come back), then finishes or reschedules each one. Redis
// (shared by every replica, surviving restarts) and memory (`airlock dev`, tests) implement it and
// pass the same tests (test/support/queue-suite.ts).
//
// A job's identity is its id (idOf); "the same job" is the same id with the same content, compared
// as JSON. A job queued again while claimed (same id, other content) replaces the claimed one: the
// claim's finish or retry then leaves the replacement queued and due at once, so the change it
// carries is never lost.

export interface Queue<T> {
  /**
   * Queues `job` under its id, due at `dueAt`, in place of a job queued under that id. With
   * `keepLater`, a job already queued keeps its due time when that is later (a claim's lease, or a
   * backoff while failing).
   */
  put(job: T, dueAt: number, opts?: { keepLater?: boolean }): Promise<void>
  /** The job queued under `id` (claimed or not); null when there is none. */
  get(id: string): Promise<T | null>
  /** Takes up to `limit` due jobs, earliest first, and hides them until `now + leaseMs`. */
  claim(now: number, leaseMs: number, limit: number): Promise<T[]>
  /** Removes a claimed job once done, unless it was replaced meanwhile (then that is due at `now`). */
  finish(claimed: T, now: number): Promise<void>
  /** Queues `next` (the claimed job's next attempt, same id) at `dueAt`, unless it was replaced (as finish). */
  retry(claimed: T, next: T, dueAt: number, now: number): Promise<void>
  /** Jobs queued, claimed ones included. */
  size(): Promise<number>
}
