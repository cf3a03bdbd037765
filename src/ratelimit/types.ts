// A fixed-window counter per key, shared by every replica on Redis (or this process's own in
// memory): the per-agent API limit and the per-session gateway limit both count with it.

export interface Taken {
  /** What the window has counted with this take; above the limit means refused. */
  count: number
  /** Milliseconds until the window ends and the count starts again. */
  resetMs: number
}

export interface Counter {
  /** Counts one against `key` in the current window, whose limit is `max`. */
  take(key: string, max: number): Promise<Taken>
}
