// The storage contract. Two implementations (memory.ts for `airlock dev`, redis.ts for production)
// pass the same tests (test/store/store.contract.test.ts). Every method that changes state is atomic.
import type { Lock, LockScope, SessionRecord, Status } from '../domain/index.js'

export type CreateResult = 'ok' | 'locked' | 'exists'
/** 'refused': the record is not in one of the statuses the change may leave (nothing was written). */
export type CasResult = 'ok' | 'conflict' | 'locked' | 'missing' | 'refused'

export interface ChainHead {
  seq: number
  hash: string
}

export interface StoredAuditEvent {
  /** Stream position, for paging. */
  pos: string
  json: string
}

export interface SessionStore {
  /** Writes a new record unless a lock covers its scope. */
  createSession(rec: SessionRecord, retentionMs: number, now: number): Promise<CreateResult>
  getSession(id: string): Promise<SessionRecord | null>
  /**
   * The records kept under these ids, in order (null where there is none). One that cannot be
   * decoded (its profile lost with a failover) throws, or, given `unreadable`, reads as null and
   * has its id added there.
   */
  getSessions(ids: string[], unreadable?: string[]): Promise<(SessionRecord | null)[]>
  /** The record and whether a lock covers the scope, in one round trip. */
  introspect(
    id: string,
    scope: LockScope,
    now: number,
  ): Promise<{ rec: SessionRecord | null; locked: boolean }>
  /**
   * Replaces the record if its version is still `expectedV`, its status one of `from` (when given:
   * the lifecycle's from-states of the change), and, with checkLocks, no lock covers it.
   */
  casSession(
    next: SessionRecord,
    expectedV: number,
    opts: { checkLocks: boolean; retentionMs: number; now: number; from?: readonly Status[] },
  ): Promise<CasResult>
  /** Newest first. `cursor` is opaque (from a previous page, or cursorAfter). */
  listSessionIds(cursor: string | null, limit: number): Promise<{ ids: string[]; next: string | null }>
  /** The cursor that continues a listing right after this (listed) session. */
  cursorAfter(rec: SessionRecord): string
  /** Unfinished sessions whose deadline is at or before `now`. */
  dueSessionIds(now: number, limit: number): Promise<string[]>
  /**
   * Claims up to `limit` of these ids that are still due (for expiry), hiding each from other
   * claims until `until`; a later write to the session (or `until` passing) ends the claim. An id
   * whose record is gone (outlived store.retention) is removed from every index instead.
   * `unreadable`: claimed ids whose records could not be decoded (left out of `recs`; their claim
   * lapses and they are tried again).
   */
  claimDue(
    ids: string[],
    now: number,
    until: number,
  ): Promise<{ recs: SessionRecord[]; dropped: number; unreadable?: string[] }>
  /** How many sessions are overdue, and the deadline of the oldest (null: none). */
  expiryLag(now: number): Promise<{ due: number; oldestDeadline: number | null }>
  liveSessionIds(): Promise<string[]>
  countLive(): Promise<{ live: number; pending: number }>
  /** Drops listing entries of sessions created before `before` (their records expired already). */
  trimSessionIndex(before: number): Promise<number>
  /**
   * Uses up a session's approved gateway action: true for exactly one caller across every replica,
   * and only while the session is active. The mark lives until `keepUntil` (ms).
   */
  useAction(id: string, keepUntil: number): Promise<boolean>
}

export interface LockStore {
  putLock(lock: Lock): Promise<void>
  deleteLock(id: string): Promise<Lock | null>
  listLocks(): Promise<Lock[]>
}

/** A new session written in the same atomic step as the audit events that record it. */
export interface SessionCreate {
  rec: SessionRecord
  retentionMs: number
}

/** A change to an existing session written with the events that record it (an expiry, a decision). */
export interface SessionUpdate {
  rec: SessionRecord
  /** The version `rec` replaces. */
  expectedV: number
  retentionMs: number
  /** The statuses the record may be in (the lifecycle's from-states of the change); absent: any. */
  from?: readonly Status[]
  /** Refused ('locked') when a lock covers the record's scope (a claim). */
  checkLocks?: boolean
  /**
   * `rec` is the stored record of version `expectedV` with only its version (+1) and status
   * changed (an expiry): the store may rewrite those in the stored record rather than take `rec`
   * whole.
   */
  statusOnly?: boolean
}

export type WriteResult = CreateResult | 'conflict' | 'missing' | 'refused'

/** A session write made in the same atomic append as the audit events that record it. */
export type SessionWrite =
  { create: SessionCreate; update?: never } | { update: SessionUpdate; create?: never }

/**
 * 'conflict': the chain's head moved. `refused`: these writes cannot be made (index < number of
 * creates: into `sessions`, else into `updates` after them). In both cases nothing was written.
 */
export type AppendResult =
  'ok' | 'conflict' | { refused: { index: number; result: Exclude<WriteResult, 'ok'> }[] }

/** An event's fields as its line holds them, `details` being the exact text of its details. */
export interface EventParts {
  actor: string
  at: string
  chain: string
  details: string
  prev_hash: string
  seq: number
  session_id: string | null
  type: string
  hash: string
}

/**
 * An audit event as a store receives it: its JSON line, or the audit writer's sealed event (the
 * line with the fields it was made from, so that a store need not read the line back).
 */
export type AuditLine = string | { line: string; parts: EventParts }

export interface AuditStore {
  auditHead(chain: string): Promise<ChainHead | null>
  /**
   * Appends if the chain's head is still `expected` (null: the chain is new), and creates the
   * sessions in `creates` (checked as createSession checks them) and applies its `updates` (each
   * if the record is still at its expected version) in the same atomic step: all or nothing. The
   * sessions created are announced on the change feed (publishChange) by the append itself.
   */
  appendAudit(
    chain: string,
    expected: ChainHead | null,
    next: ChainHead,
    events: AuditLine[],
    retentionMs: number,
    creates?: { sessions: SessionCreate[]; updates?: SessionUpdate[]; now: number },
  ): Promise<AppendResult>
  /** Oldest first from `afterPos` (exclusive), or newest first when `reverse`. */
  readAudit(opts: {
    afterPos?: string
    sinceMs?: number
    count: number
    reverse?: boolean
  }): Promise<StoredAuditEvent[]>
  /**
   * Trims events older than `beforeMs` (at most about `limit`), recording each chain's last trimmed
   * event as its anchor.
   */
  trimAudit(
    beforeMs: number,
    /** null for an entry that holds no event: it is deleted and anchors nothing. */
    anchorOf: (json: string) => { chain: string; seq: number; hash: string } | null,
    limit?: number,
  ): Promise<number>
  auditAnchors(): Promise<Record<string, ChainHead>>
}

export interface LeaseStore {
  /** Takes or renews an exclusive lease; false when another owner holds it. */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean>
}

/** What watchChange takes to hear of a change to any session (the console's lists). */
export const ANY_SESSION = '*'

/** Cross-replica change notifications (for `GET /v1/sessions/{id}?wait=` and the console). */
export interface ChangeFeed {
  publishChange(sessionId: string): void
  /**
   * Starts listening (the outer promise resolves once no change can be missed any more); the inner
   * promise resolves on the next change of `sessionId` (of any session for ANY_SESSION), after
   * `ms`, or when `signal` aborts.
   */
  watchChange(sessionId: string, ms: number, signal?: AbortSignal): Promise<{ changed: Promise<void> }>
}

export type ConsoleRecordKind = 'session' | 'login'

/**
 * The web console's own records (src/console): signed-in sessions, sign-ins in progress. A session
 * written with an `owner` (the person signed in) is indexed under that person, so an operator can
 * end all of them at once; an index entry lapses with its record.
 */
export interface ConsoleStore {
  /**
   * Writes a record that lives `ttlMs`. With `onlyIfExists`, only over one still there (a sign-out
   * or an expiry meanwhile wins): false when it was not.
   */
  putConsoleRecord(
    kind: ConsoleRecordKind,
    id: string,
    json: string,
    ttlMs: number,
    onlyIfExists?: boolean,
    owner?: string,
  ): Promise<boolean>
  getConsoleRecord(kind: ConsoleRecordKind, id: string): Promise<string | null>
  /** Reads and deletes in one step (a sign-in state is used once); `owner` leaves its index too. */
  takeConsoleRecord(kind: ConsoleRecordKind, id: string, owner?: string): Promise<string | null>
  deleteConsoleRecord(kind: ConsoleRecordKind, id: string, owner?: string): Promise<void>
  /** Deletes every console session indexed under `owner` in one step; how many were live. */
  endConsoleSessions(owner: string): Promise<number>
}

export interface Store extends SessionStore, LockStore, AuditStore, LeaseStore, ChangeFeed, ConsoleStore {
  readonly kind: 'memory' | 'redis'
  /** Resolves when the store takes a write on its primary; rejects otherwise. */
  ping(): Promise<void>
  /**
   * Resolves once every write made so far (by any replica of the broker) is held by the replicas
   * store.replica_acks asks for: a repeated revocation answers 200 only when the first one is safe.
   */
  confirmWrites(): Promise<void>
  close(): Promise<void>
}
