// The audit writer. Events go to Redis (one append script per batch, checked against the chain's
// head) and then to stdout. Batching is a group commit: while one append is in flight the next
// batch gathers, so a busy broker does one round trip for many events without reordering them.
// A write of the caller may ride in the same append as its events (`recordWith`): the session
// store (src/sessions/records.ts) creates a session that way, so a grant's record and its audit
// trail land together in one round trip, or not at all. What the write is, the log does not know.
import { err } from '../errors.js'
import { lineOf } from '../store/audit-codec.js'
import { ReplicaAckError } from '../store/durable.js'
import { newChainId } from '../ids.js'
import { iso, type Clock } from '../clock.js'
import type {
  AppendResult,
  AuditLine,
  AuditStore,
  ChainHead,
  SessionCreate,
  SessionUpdate,
  SessionWrite,
  WriteResult,
} from '../store/types.js'
import { sealEvent, ZERO_HASH } from './chain.js'
import { tagVia } from './via.js'

export interface AuditInput {
  type: string
  actor: string
  session_id?: string | null
  details?: Record<string, unknown>
}

export interface AuditLog {
  readonly chain: string
  /** Resolves once the events are durable in the store; rejects (503) when they cannot be written. */
  record(...events: AuditInput[]): Promise<void>
  /**
   * Records the events and makes the store write in one atomic append (many share one round trip).
   * Anything but 'ok' says why the store refused the write: then neither was written. Rejects (503)
   * when the store cannot be written.
   */
  recordWith(write: SessionWrite, ...events: AuditInput[]): Promise<WriteResult>
  head(): ChainHead | null
  checkpoint(): void
  close(): void
}

interface Pending {
  events: AuditInput[]
  create: SessionCreate | null
  update: SessionUpdate | null
  resolve: (r: WriteResult) => void
  reject: (e: Error) => void
}

export interface AuditLogDeps {
  store: AuditStore
  chain: string
  clock: Clock
  /** audit.retention, read at each append so a reload applies. */
  retentionMs: () => number
  /** Receives each event (and checkpoint) as one JSON line; null when audit.stdout is off. */
  out: ((line: string) => void) | null
  checkpointEveryMs: number
  onFailure?: (e: unknown) => void
  /** A fresh chain id, for when the store lost this chain's head (default: newChainId). */
  newChain?: () => string
  onChainLost?: (chain: string, head: ChainHead) => void
}

const MAX_BATCH = 512
/** Unanswered appends remembered for their stdout lines (each retry builds a new one). */
const MAX_UNSURE = 8

/**
 * Records the event of a change already made (a vault write, a key rotation, a lock): if the audit
 * log cannot be written, the caller's 503 says the change stands, rather than that nothing happened.
 */
export const recordAfter = (audit: AuditLog, done: string, ...events: AuditInput[]): Promise<void> =>
  audit.record(...events).catch((e: unknown) => {
    if (e instanceof ReplicaAckError)
      throw err.unavailable(`${done}, but too few Redis replicas acknowledged it in time: retry`, e)
    throw err.unavailable(`${done}, but the audit log cannot be written: the change stands unaudited`, e)
  })

export function createAuditLog(deps: AuditLogDeps): AuditLog {
  const { store, clock } = deps
  let chain = deps.chain
  let head: ChainHead | null = null
  let synced = false
  let queue: Pending[] = []
  let flushing = false
  let lastCheckpoint = ''
  /** The first event of a chain that continues one whose head the store lost (written with the next batch). */
  let continuation: AuditInput | null = null
  /**
   * Appends that failed without an answer since the last one that landed: any may have been
   * written after all (a lost reply, a timed-out command still queued), and its lines are owed to
   * stdout if the store's head turns out to be its.
   */
  let unsure: { next: ChainHead; landed: () => void }[] = []

  const flush = async () => {
    if (flushing) return
    flushing = true
    while (queue.length > 0) {
      let batch = takeBatch()
      try {
        let conflicts = 0
        for (;;) {
          const r = await append(batch)
          if (r === 'ok') break
          if (r === 'conflict') {
            // Nothing was written: resync once and retry the same batch.
            synced = false
            if (++conflicts > 1) throw new Error('audit chain head moved (another writer on this chain?)')
            continue
          }
          // Refused sessions (a lock, an id taken) end here; the rest of the batch goes again.
          batch = settleRefused(batch, r.refused)
          if (batch.length === 0) break
        }
        for (const p of batch) p.resolve('ok')
      } catch (e) {
        synced = false
        deps.onFailure?.(e)
        // Written on the primary but not acknowledged by enough replicas: the caller says so.
        const failure =
          e instanceof ReplicaAckError ? e : err.unavailable('the audit log cannot be written', e)
        for (const p of batch) p.reject(failure)
      }
    }
    flushing = false
  }

  const settleRefused = (
    batch: Pending[],
    refused: { index: number; result: Exclude<WriteResult, 'ok'> }[],
  ): Pending[] => {
    const byIndex = new Map(refused.map((f) => [f.index, f.result]))
    const rest: Pending[] = []
    // Creates are numbered first, then updates (as append passes them to the store).
    let c = 0
    let u = batch.reduce((n, p) => n + (p.create ? 1 : 0), 0)
    for (const p of batch) {
      const result = p.create ? byIndex.get(c++) : p.update ? byIndex.get(u++) : undefined
      if (result) p.resolve(result)
      else rest.push(p)
    }
    // A refusal that names no create of this batch would retry it forever.
    if (rest.length === batch.length) throw new Error('the store refused creates this batch does not hold')
    return rest
  }

  const append = async (batch: Pending[]): Promise<AppendResult> => {
    if (!synced) {
      // After a failure the reply may have been lost after the write: believe the store.
      const stored = await store.auditHead(chain)
      unsure.find((u) => u.next.seq === stored?.seq && u.next.hash === stored.hash)?.landed()
      if (head !== null && (stored === null || stored.seq < head.seq)) {
        // The store lost our last events (a failover to a replica that lacked them, or lost data):
        // never reuse seq numbers. A new chain starts with an event that links it to the old one
        // and says what the store still holds, so verification explains the gap.
        deps.onChainLost?.(chain, head)
        continuation = {
          type: 'audit.chain_continued',
          actor: 'airlock',
          details: {
            previous_chain: chain,
            previous_seq: head.seq,
            previous_hash: head.hash,
            stored_seq: stored?.seq ?? 0,
            reason: 'the store lost the end of the previous chain (failover or data loss)',
          },
        }
        chain = (deps.newChain ?? newChainId)()
        head = null
      } else {
        head = stored
        // Every append to a continued chain starts with its first event: a head means it is there.
        if (stored !== null) continuation = null
      }
      synced = true
    }
    let seq = head?.seq ?? 0
    let prev = head?.hash ?? ZERO_HASH
    const events: AuditLine[] = []
    const at = iso(clock.now())
    const first: Pending[] = continuation
      ? [{ events: [continuation], create: null, update: null, resolve() {}, reject() {} }]
      : []
    for (const p of [...first, ...batch]) {
      for (const e of p.events) {
        const body = {
          chain,
          seq: ++seq,
          at,
          type: e.type,
          actor: e.actor,
          session_id: e.session_id ?? null,
          details: e.details ?? {},
          prev_hash: prev,
        }
        const sealed = sealEvent(body)
        prev = sealed.hash
        // The store is handed the fields too, so it need not read the line back to keep it.
        events.push(sealed.parts ? { line: sealed.line, parts: sealed.parts } : sealed.line)
      }
    }
    const next = { seq, hash: prev }
    const sessions: SessionCreate[] = []
    const updates: SessionUpdate[] = []
    for (const p of batch) {
      if (p.create) sessions.push(p.create)
      else if (p.update) updates.push(p.update)
    }
    const creates = sessions.length + updates.length > 0 ? { sessions, updates, now: clock.now() } : undefined
    const landed = () => {
      head = next
      continuation = null
      unsure = []
      if (deps.out) deps.out(events.map(lineOf).join('\n'))
    }
    const r = await store
      .appendAudit(chain, head, next, events, deps.retentionMs(), creates)
      .catch((e: unknown) => {
        // The events are in the primary's chain (replicas may lack them): the chain goes on from them.
        if (e instanceof ReplicaAckError) landed()
        else unsure = [...unsure.slice(-(MAX_UNSURE - 1)), { next, landed }]
        throw e
      })
    if (r !== 'ok') return r
    landed()
    return 'ok'
  }

  const takeBatch = (): Pending[] => {
    let n = 0
    let i = 0
    while (i < queue.length && n < MAX_BATCH) n += (queue[i++] as Pending).events.length
    const batch = queue.slice(0, i)
    queue = queue.slice(i)
    return batch
  }

  const checkpoint = () => {
    if (!deps.out || !head) return
    const key = `${head.seq}:${head.hash}`
    if (key === lastCheckpoint) return
    lastCheckpoint = key
    deps.out(
      JSON.stringify({
        type: 'audit.checkpoint',
        chain,
        seq: head.seq,
        hash: head.hash,
        at: iso(clock.now()),
      }),
    )
  }
  const timer = setInterval(checkpoint, deps.checkpointEveryMs)
  timer.unref()

  return {
    get chain() {
      return chain
    },
    record(...events) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ events: tagVia(events), create: null, update: null, resolve: () => resolve(), reject })
        void flush()
      })
    },
    recordWith(write, ...events) {
      return new Promise<WriteResult>((resolve, reject) => {
        queue.push({
          events: tagVia(events),
          create: write.create ?? null,
          update: write.update ?? null,
          resolve,
          reject,
        })
        void flush()
      })
    },
    head: () => head,
    checkpoint,
    close() {
      clearInterval(timer)
      checkpoint()
    },
  }
}
