// The least an audited write costs, for the bench's floor targets: each event hash-chained to the
// one before (SHA-256 over its JSON) and appended by group commit, as Airlock's audit log does
// (one write per batch; while one is in flight the next batch gathers).
import { hash } from 'node:crypto'

export interface ChainedEvent {
  actor: string
  chain: string
  details: Record<string, unknown>
  session_id: string
  type: string
}

/**
 * `write(head, batch)` stores a batch: `head` is the chain's "seq:hash" once it is stored, each
 * item its event's line and what the caller passed along. `record` resolves once its batch is stored.
 */
export function chainedLog<T>(write: (head: string, batch: { line: string; with: T }[]) => Promise<unknown>) {
  let seq = 0
  let prev = '0'.repeat(64)
  let queue: { line: string; with: T; done: (e?: unknown) => void }[] = []
  let flushing = false
  const flush = async () => {
    if (flushing) return
    flushing = true
    while (queue.length > 0) {
      const batch = queue
      queue = []
      // Every queued event is in this batch: the chain's head is its last one.
      await write(`${seq}:${prev}`, batch).then(
        () => batch.forEach((b) => b.done()),
        (e: unknown) => batch.forEach((b) => b.done(e)),
      )
    }
    flushing = false
  }
  return {
    record(e: ChainedEvent, extra: T): Promise<void> {
      const { actor, chain, details, session_id, type } = e
      const at = new Date().toISOString()
      // Keys in sorted order: the canonical JSON the hash is taken over.
      const json = JSON.stringify({
        actor,
        at,
        chain,
        details,
        prev_hash: prev,
        seq: ++seq,
        session_id,
        type,
      })
      prev = hash('sha256', json, 'hex')
      const line = `${json.slice(0, -1)},"hash":"${prev}"}`
      return new Promise<void>((resolve, reject) => {
        queue.push({ line, with: extra, done: (x) => (x === undefined ? resolve() : reject(x as Error)) })
        void flush()
      })
    },
  }
}
