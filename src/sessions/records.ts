// The session store: the one place a session record is written. Every write is a step of the
// lifecycle (lifecycle.ts), named by its verb, and is refused by the store's scripts when the
// record is no longer in one of the verb's from-states. A session is created together with the
// audit event that records it, in one atomic append (the audit writer's group commit shares the
// round trip among concurrent grants); changes are compare-and-set on the record's version, retried
// on conflict, so racing revokes, locks, decisions and sweeps on any replica converge on one outcome.
import type { AuditInput, AuditLog } from '../audit/log.js'
import type { Clock } from '../clock.js'
import type { SessionRecord } from '../domain/session.js'
import { err, unanswered } from '../errors.js'
import { ReplicaAckError } from '../store/durable.js'
import type { CasResult, CreateResult, Store, WriteResult } from '../store/types.js'
import { fromStates, step, transitionOf, type Transition, type Verb } from './lifecycle.js'

const CAS_ATTEMPTS = 64

const stepOf = (verbs: readonly Verb[], from: Transition['from'], to: Transition['to']): Transition => {
  for (const v of verbs) {
    const t = transitionOf(v, from, to)
    if (t) return t
  }
  return step(verbs[0] as Verb, from, to)
}

/** An audit event of a step; its type is the table's. */
export type StepEvent = Omit<AuditInput, 'type'>

export interface Change {
  rec: SessionRecord
  before: SessionRecord
  changed: boolean
  locked: boolean
  /** The lifecycle step taken (null when nothing changed). */
  step: Transition | null
}

export interface SessionRecords {
  /**
   * Creates a session (verb `request`, `grant` or `start_issuing`). With an event, the record and
   * its audit event are written in the same atomic append. 'locked' or 'exists': nothing was
   * written. Rejects (503) when the store cannot be written.
   */
  create(verb: Verb, rec: SessionRecord, event?: StepEvent): Promise<CreateResult>
  /**
   * Applies `change` to the current record as the step `verb` (or the one of `verb`s whose row it
   * is: revoking a session past its deadline records an expiry), atomically; null from `change`
   * means "nothing to do". A change written on the primary but acknowledged by too few replicas
   * (ReplicaAckError) still runs `landed` (what must follow it, like revoking the credentials)
   * before the error goes to the caller.
   */
  change(
    id: string,
    verb: Verb | readonly Verb[],
    change: (cur: SessionRecord, now: number) => SessionRecord | null,
    opts?: { checkLocks?: boolean; landed?: (c: Change) => Promise<void> },
  ): Promise<Change>
  /**
   * `change`, with the step's audit event (`event`, of the record written and the one it
   * replaces) in the same atomic append: neither lands without the other. When the audit log
   * cannot be written nothing changed, and the 503 says so (`nothing`: what did not happen); when
   * Redis never answered, the change may land yet, and the 503 says that of `unsure`, if given. A
   * change that landed with too few replica acknowledgements runs `landed`, as `change` does.
   */
  changeWith(
    id: string,
    verb: Verb | readonly Verb[],
    change: (cur: SessionRecord, now: number) => SessionRecord | null,
    event: (rec: SessionRecord, before: SessionRecord) => StepEvent,
    opts: {
      nothing: string
      unsure?: string
      checkLocks?: boolean
      landed?: (c: Change) => Promise<void>
    },
  ): Promise<Change>
  /**
   * One compare-and-set of `next` over version `expectedV` as the step `verb`, without retrying.
   * Like every write here, one that landed with too few replica acknowledgements is announced on
   * the change feed before its ReplicaAckError reaches the caller.
   */
  replace(verb: Verb, next: SessionRecord, from: SessionRecord, checkLocks: boolean): Promise<CasResult>
  /**
   * Replaces `before` with `rec` (the step `verb`) and records the event, in one atomic append.
   * Anything but 'ok' means neither was written. `statusOnly`: `rec` is `before` with only its
   * version and status changed (the store then rewrites just those).
   */
  replaceWith(
    verb: Verb,
    rec: SessionRecord,
    before: SessionRecord,
    event: StepEvent,
    opts?: { statusOnly?: boolean },
  ): Promise<WriteResult>
  /** The audit event type of a step. */
  eventOf(verb: Verb, from: SessionRecord['status'] | null, to: SessionRecord['status']): string
}

export function createSessionRecords(deps: {
  store: Store
  audit: AuditLog
  clock: Clock
  /** store.retention, read at each write so a reload applies. */
  retentionMs: () => number
}): SessionRecords {
  const { store, audit, clock } = deps

  const eventOf = (verb: Verb, from: SessionRecord['status'] | null, to: SessionRecord['status']) => {
    const type = step(verb, from, to).event
    if (type === null) throw new Error(`the lifecycle step '${verb}' to ${to} writes no event`)
    return type
  }

  /**
   * Rethrows a write's error; one that landed on the primary with too few replica
   * acknowledgements (ReplicaAckError) is a change all the same, so it is announced first.
   */
  const landedUnacked =
    (id: string) =>
    (e: unknown): never => {
      if (e instanceof ReplicaAckError) store.publishChange(id)
      throw e
    }

  /**
   * The compare-and-set loop of `change` and `changeWith`: read, apply `change`, `write` the next
   * version (from one of `verb`'s from-states); on a race read again. A write that landed with too
   * few replica acknowledgements is announced and runs `landed` before its error goes on.
   */
  async function changeLoop(
    id: string,
    verb: Verb | readonly Verb[],
    change: (cur: SessionRecord, now: number) => SessionRecord | null,
    landed: ((c: Change) => Promise<void>) | undefined,
    write: (
      rec: SessionRecord,
      cur: SessionRecord,
      now: number,
      from: SessionRecord['status'][],
      taken: Transition,
    ) => Promise<CasResult | WriteResult>,
  ): Promise<Change> {
    const verbs: readonly Verb[] = typeof verb === 'string' ? [verb] : verb
    const from = [...new Set(verbs.flatMap(fromStates))]
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const cur = await store.getSession(id)
      if (!cur) throw err.notFound()
      const now = clock.now()
      const next = change(cur, now)
      if (!next) return { rec: cur, before: cur, changed: false, locked: false, step: null }
      const taken = stepOf(verbs, cur.status, next.status)
      const rec = { ...next, v: cur.v + 1 }
      const done = { rec, before: cur, changed: true, locked: false, step: taken }
      let r: CasResult | WriteResult
      try {
        r = await write(rec, cur, now, from, taken)
      } catch (e) {
        if (e instanceof ReplicaAckError) {
          store.publishChange(id)
          await landed?.(done)
        }
        throw e
      }
      if (r === 'ok') {
        store.publishChange(id)
        return done
      }
      if (r === 'locked') return { rec: cur, before: cur, changed: false, locked: true, step: null }
      if (r === 'missing') throw err.notFound()
      // 'conflict' (the version moved) or 'refused' (so did the status): read again.
    }
    throw err.unavailable('the session is changing too fast; try again')
  }

  return {
    eventOf,

    async create(verb, rec, event) {
      step(verb, null, rec.status)
      const retentionMs = deps.retentionMs()
      if (!event) {
        // Without an event there is no append to announce it: announced here, like a change.
        const r = await store.createSession(rec, retentionMs, clock.now()).catch(landedUnacked(rec.id))
        if (r === 'ok') store.publishChange(rec.id)
        return r
      }
      const r = await audit.recordWith(
        { create: { rec, retentionMs } },
        { type: eventOf(verb, null, rec.status), ...event },
      )
      return r as CreateResult
    },

    change: (id, verb, change, opts = {}) =>
      changeLoop(id, verb, change, opts.landed, (rec, cur, now, from) =>
        store.casSession(rec, cur.v, {
          checkLocks: opts.checkLocks ?? false,
          retentionMs: deps.retentionMs(),
          now,
          from,
        }),
      ),

    changeWith: (id, verb, change, event, opts) =>
      changeLoop(id, verb, change, opts.landed, async (rec, cur, _now, from, taken) => {
        const update = {
          rec,
          expectedV: cur.v,
          retentionMs: deps.retentionMs(),
          from,
          ...(opts.checkLocks && { checkLocks: true }),
        }
        const type = eventOf(taken.verb, cur.status, rec.status)
        try {
          return await audit.recordWith({ update }, { type, ...event(rec, cur) })
        } catch (e) {
          // Too few replica acknowledgements: on the primary with its event, a change all the same.
          if (e instanceof ReplicaAckError) throw e
          // Sent and never answered, it may still land: the caller reads before trying again.
          if (opts.unsure && unanswered(e))
            throw err.unavailable(
              `Redis did not answer in time, so ${opts.unsure} may or may not have been recorded: read the session (GET /v1/sessions/${id}) before trying again`,
              e,
            )
          throw err.unavailable(`the audit log cannot be written, so ${opts.nothing}: retry`, e)
        }
      }),

    async replace(verb, next, cur, checkLocks) {
      step(verb, cur.status, next.status)
      const r = await store
        .casSession(next, cur.v, {
          checkLocks,
          retentionMs: deps.retentionMs(),
          now: clock.now(),
          from: fromStates(verb),
        })
        .catch(landedUnacked(next.id))
      if (r === 'ok') store.publishChange(next.id)
      return r
    },

    async replaceWith(verb, rec, before, event, opts) {
      const type = eventOf(verb, before.status, rec.status)
      const update = {
        rec,
        expectedV: before.v,
        retentionMs: deps.retentionMs(),
        from: fromStates(verb),
        ...(opts?.statusOnly && { statusOnly: true }),
      }
      const r = await audit.recordWith({ update }, { type, ...event }).catch(landedUnacked(rec.id))
      if (r === 'ok') store.publishChange(rec.id)
      return r
    },
  }
}
