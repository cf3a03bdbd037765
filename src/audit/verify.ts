// Verifying audit chains as a stream: events go in one at a time, in any order, and only a few
// numbers per chain stay in memory (its last linked seq and hash), plus the hashes of events that
// arrived ahead of a gap. Each broker appends its chain in order, so in a healthy log nothing
// waits; an edited event re-added at the end of the stream waits as its seq, prev_hash and hash.
import type { ChainHead } from '../store/types.js'
import { hashEvent, ZERO_HASH, type AuditEvent } from './chain.js'

export interface VerifyResult {
  ok: boolean
  events: number
  chains: { chain: string; first: number; last: number }[]
  problems: string[]
  /** Explained gaps: a chain's end lost by the store and continued on a new chain. Not problems. */
  notes: string[]
}

/** What an `audit.chain_continued` event (a new chain's first) says of the chain it continues. */
interface Continuation {
  chain: string
  previousSeq: number
  previousHash: string
  storedSeq: number
}

/** Problems kept word for word; a log broken further than this is reported with a count. */
const MAX_PROBLEMS = 1000
/** Events waiting for a missing predecessor, over all chains, before the gap is declared. */
const MAX_AHEAD = 100_000

interface Linkable {
  seq: number
  prevHash: string
  hash: string
  edited: boolean
}

interface ChainState {
  first: number | null
  prevSeq: number
  prevHash: string
  ahead: Map<number, Linkable>
  problems: string[]
  /** The hash of the event at each head's seq, for the heads of this chain. */
  atHead: Map<number, string>
  /** The last event seen at or before the chain's retention anchor (a trim's leftovers). */
  trimmed: { seq: number; hash: string } | null
}

/**
 * Checks every chain: each hash recomputes, seq counts up by one, prev_hash links. A chain starts
 * at seq 1 with the zero hash, or right after its retention anchor. Each set of `heads` (the
 * store's recorded heads, checkpoints from stdout) reveals a deleted tail; the sets are checked
 * on their own, so a rewritten head key cannot cover for a checkpoint.
 */
export class ChainVerifier {
  private readonly chains = new Map<string, ChainState>()
  private readonly continued = new Map<string, Continuation>()
  private readonly headSets: Record<string, ChainHead>[]
  private events = 0
  private ahead = 0
  private problemCount = 0
  /** Problems of no chain (stream entries that hold no event). */
  private readonly loose: string[] = []

  constructor(
    private readonly anchors: Record<string, ChainHead> = {},
    headSets: Record<string, ChainHead>[] = [],
  ) {
    this.headSets = headSets.map((h) => ({ ...h }))
  }

  get eventsSeen(): number {
    return this.events
  }

  /** Whether a chain has been seen (its stored head can then be looked up before its events). */
  knows(chain: string): boolean {
    return this.chains.has(chain)
  }

  setHead(set: number, chain: string, head: ChainHead): void {
    const heads = this.headSets[set]
    if (heads) heads[chain] = head
  }

  /** A stream entry (at `pos`) that holds no audit event. */
  unreadable(pos: string): void {
    if (++this.problemCount <= MAX_PROBLEMS) this.loose.push(`stream entry ${pos}: not an audit event`)
  }

  add(e: AuditEvent): void {
    this.events++
    if (e.type === 'audit.chain_continued' && e.seq === 1 && e.actor === 'airlock') this.noteContinuation(e)
    const state = this.stateOf(e.chain)
    for (const heads of this.headSets) {
      const h = heads[e.chain]
      if (h?.seq === e.seq && !state.atHead.has(e.seq)) state.atHead.set(e.seq, e.hash)
    }
    const { hash, ...rest } = e
    const item: Linkable = { seq: e.seq, prevHash: e.prev_hash, hash, edited: hashEvent(rest) !== hash }
    const anchor = this.anchors[e.chain]
    if (anchor && e.seq <= anchor.seq) this.linkTrimmed(e.chain, state, anchor, item)
    else if (e.seq === state.prevSeq + 1) {
      this.link(e.chain, state, item)
      this.drain(e.chain, state)
    } else if (e.seq > state.prevSeq + 1 && !state.ahead.has(e.seq)) {
      state.ahead.set(e.seq, item)
      if (++this.ahead > MAX_AHEAD) this.releaseAhead()
    } else {
      this.problem(
        state,
        `${e.chain} #${e.seq}: appears again after #${state.prevSeq} (duplicated or reordered)`,
      )
    }
  }

  finish(): VerifyResult {
    for (const [chain, state] of this.chains) this.flush(chain, state)
    const problems: string[] = [...this.loose]
    const chains: VerifyResult['chains'] = []
    for (const [chain, s] of this.chains) {
      problems.push(...s.problems)
      chains.push({ chain, first: s.first ?? 0, last: s.prevSeq })
    }
    for (const [chain, s] of this.chains) {
      const anchor = this.anchors[chain]
      if (anchor && s.trimmed && s.trimmed.seq < anchor.seq)
        problems.push(`${chain}: events ${s.trimmed.seq + 1}..${anchor.seq} are missing (deleted)`)
    }
    const notes: string[] = []
    const lastOf = (chain: string) => this.chains.get(chain)?.prevSeq ?? this.anchors[chain]?.seq ?? 0
    for (const [chain, next] of this.continued) {
      const last = lastOf(chain)
      if (next.storedSeq === last && next.previousSeq > last)
        notes.push(
          `${chain}: events ${last + 1}..${next.previousSeq} were lost by the store (a failover or data loss); the broker printed them to its stdout and continued on chain ${next.chain}`,
        )
    }
    for (const heads of this.headSets) {
      for (const [chain, head] of Object.entries(heads)) {
        const s = this.chains.get(chain)
        const last = s?.prevSeq ?? this.anchors[chain]?.seq ?? 0
        // The broker saw the store lose this chain's end, said up to where, and went on anew.
        const next = this.continued.get(chain)
        const explained =
          next !== undefined &&
          next.storedSeq === last &&
          (head.seq < next.previousSeq || (head.seq === next.previousSeq && head.hash === next.previousHash))
        if (head.seq > last && explained) continue
        if (head.seq > last)
          problems.push(`${chain}: events ${last + 1}..${head.seq} are missing (tail deleted)`)
        else {
          const seen = s?.atHead.get(head.seq)
          if (seen !== undefined && seen !== head.hash)
            problems.push(`${chain} #${head.seq}: does not match the recorded head`)
        }
      }
    }
    const unique = [...new Set(problems)]
    const dropped = this.problemCount - Math.min(this.problemCount, MAX_PROBLEMS)
    if (dropped > 0) unique.push(`... and ${dropped} more problems`)
    return { ok: unique.length === 0, events: this.events, chains, problems: unique, notes }
  }

  private noteContinuation(e: AuditEvent): void {
    const d = e.details
    if (typeof d['previous_chain'] !== 'string' || typeof d['previous_seq'] !== 'number') return
    this.continued.set(d['previous_chain'], {
      chain: e.chain,
      previousSeq: d['previous_seq'],
      previousHash: typeof d['previous_hash'] === 'string' ? d['previous_hash'] : '',
      storedSeq: typeof d['stored_seq'] === 'number' ? d['stored_seq'] : 0,
    })
  }

  private stateOf(chain: string): ChainState {
    let s = this.chains.get(chain)
    if (!s) {
      const anchor = this.anchors[chain]
      s = {
        first: null,
        prevSeq: anchor?.seq ?? 0,
        prevHash: anchor?.hash ?? ZERO_HASH,
        ahead: new Map(),
        problems: [],
        atHead: new Map(),
        trimmed: null,
      }
      this.chains.set(chain, s)
    }
    return s
  }

  private link(chain: string, s: ChainState, e: Linkable): void {
    s.first ??= e.seq
    if (e.edited) this.problem(s, `${chain} #${e.seq}: content does not match its hash (edited)`)
    if (e.seq !== s.prevSeq + 1)
      this.problem(s, `${chain}: events ${s.prevSeq + 1}..${e.seq - 1} are missing (deleted)`)
    else if (e.prevHash !== s.prevHash)
      this.problem(s, `${chain} #${e.seq}: prev_hash does not link to #${s.prevSeq}`)
    s.prevSeq = e.seq
    s.prevHash = e.hash
  }

  /**
   * An event at or before its chain's retention anchor: one a trim was to delete (it stopped
   * between writing the anchor and deleting). Trimming takes the oldest first, so what is left
   * still links up and ends at the anchor: an anchor written over the chain cannot hide an edit.
   */
  private linkTrimmed(chain: string, s: ChainState, anchor: ChainHead, e: Linkable): void {
    if (e.edited) this.problem(s, `${chain} #${e.seq}: content does not match its hash (edited)`)
    const prev = s.trimmed
    if (prev && e.seq > prev.seq + 1)
      this.problem(s, `${chain}: events ${prev.seq + 1}..${e.seq - 1} are missing (deleted)`)
    else if (prev && e.seq <= prev.seq)
      this.problem(s, `${chain} #${e.seq}: appears again after #${prev.seq} (duplicated or reordered)`)
    else if (prev && e.prevHash !== prev.hash)
      this.problem(s, `${chain} #${e.seq}: prev_hash does not link to #${prev.seq}`)
    if (e.seq === anchor.seq && e.hash !== anchor.hash)
      this.problem(s, `${chain} #${e.seq}: does not match its retention anchor`)
    s.trimmed = { seq: e.seq, hash: e.hash }
  }

  /** Links whatever now follows on from the chain's last linked event. */
  private drain(chain: string, s: ChainState): void {
    for (let next = s.ahead.get(s.prevSeq + 1); next; next = s.ahead.get(s.prevSeq + 1)) {
      s.ahead.delete(next.seq)
      this.ahead--
      this.link(chain, s, next)
    }
  }

  /** The end of the stream (or a full buffer): what still waits comes after a gap. */
  private flush(chain: string, s: ChainState): void {
    if (s.ahead.size === 0) return
    const waiting = [...s.ahead.values()].sort((a, b) => a.seq - b.seq)
    s.ahead.clear()
    this.ahead -= waiting.length
    for (const e of waiting) this.link(chain, s, e)
  }

  private releaseAhead(): void {
    let fullest: [string, ChainState] | null = null
    for (const entry of this.chains)
      if (!fullest || entry[1].ahead.size > fullest[1].ahead.size) fullest = entry
    if (fullest) this.flush(...fullest)
  }

  private problem(s: ChainState, text: string): void {
    if (++this.problemCount <= MAX_PROBLEMS) s.problems.push(text)
  }
}

/** Verifies a list of events held in memory (tests, small logs); see ChainVerifier. */
export function verifyChains(
  events: AuditEvent[],
  anchors: Record<string, ChainHead> = {},
  heads: Record<string, ChainHead> = {},
): VerifyResult {
  const v = new ChainVerifier(anchors, [heads])
  for (const e of events) v.add(e)
  return v.finish()
}
