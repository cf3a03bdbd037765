// The session lifecycle as data (src/sessions/lifecycle.ts), and the store's scripts agreeing
// with it: for every verb, the statuses a compare-and-set or an audited update accepts are exactly
// the table's from-states, on the memory store and on Redis.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FINAL, LIVE, STATUSES, type Status } from '../../src/domain/status.js'
import { allows, fromStates, step, TRANSITIONS, type Verb } from '../../src/sessions/lifecycle.js'
import { makeRec } from '../support/records.js'
import { localRedisKind, memoryKind, type Fixture } from '../support/store-kinds.js'

const DAY = 86_400_000
const VERBS = [...new Set(TRANSITIONS.map((t) => t.verb))]
const CHANGES = VERBS.filter((v) => fromStates(v).length > 0)

describe('the transition table', () => {
  it('names the verbs the code has', () => {
    expect(VERBS.sort()).toEqual(
      [
        'activate',
        'approve',
        'claim',
        'deny',
        'end',
        'expire',
        'grant',
        'request',
        'revoke',
        'start_issuing',
        'unclaim',
      ].sort(),
    )
  })

  it('creates sessions pending, active or issuing, and only by the agent', () => {
    const creates = TRANSITIONS.filter((t) => t.from === null)
    expect(creates.map((t) => [t.verb, t.to, t.by, t.event])).toEqual([
      ['request', 'pending_approval', ['agent'], 'session.requested'],
      ['grant', 'active', ['agent'], 'session.issued'],
      ['start_issuing', 'issuing', ['agent'], null],
    ])
  })

  it('never leaves a final status, and reaches every status', () => {
    for (const t of TRANSITIONS) if (t.from) expect(FINAL.has(t.from), `${t.verb} from ${t.from}`).toBe(false)
    expect(new Set(TRANSITIONS.map((t) => t.to))).toEqual(new Set(STATUSES))
  })

  it('ends every live status by end, revoke and expire, revoking credentials only where they can exist', () => {
    for (const verb of ['end', 'revoke', 'expire'] as const) {
      expect([...fromStates(verb)].sort()).toEqual([...LIVE].sort())
      for (const from of LIVE) {
        const t = step(verb, from, verb === 'expire' ? 'expired' : 'revoked')
        expect(t.revokesCredentials, `${verb} from ${from}`).toBe(from === 'issuing' || from === 'active')
      }
    }
    // Besides the endings, only the undoing of an unacknowledged claim revokes credentials.
    expect(
      TRANSITIONS.filter((t) => t.revokesCredentials && !FINAL.has(t.to)).map((t) => [t.verb, t.from, t.to]),
    ).toEqual([
      ['unclaim', 'active', 'approved'],
      ['unclaim', 'issuing', 'approved'],
    ])
  })

  it('undoes a claim only from what a claim wrote, back to approved, by Airlock', () => {
    expect([...fromStates('unclaim')].sort()).toEqual(['active', 'issuing'])
    for (const from of ['active', 'issuing'] as const) {
      expect(step('unclaim', from, 'approved')).toMatchObject({
        by: ['system'],
        event: 'session.claim_undone',
        revokesCredentials: true,
      })
    }
    // Never back from an ending, a denial or a pending request.
    for (const from of STATUSES.filter((s) => s !== 'active' && s !== 'issuing'))
      expect(allows('unclaim', from), from).toBe(false)
  })

  it('says who may take each step and which event it writes', () => {
    expect(step('approve', 'pending_approval', 'approved')).toMatchObject({
      by: ['approver'],
      event: 'session.approved',
    })
    expect(step('approve', 'pending_approval', 'pending_approval').event).toBe('session.approval')
    expect(step('deny', 'pending_approval', 'denied')).toMatchObject({
      by: ['approver'],
      event: 'session.denied',
    })
    expect(step('claim', 'approved', 'active')).toMatchObject({ by: ['agent'], event: 'session.issued' })
    expect(step('activate', 'issuing', 'active')).toMatchObject({ by: ['system'], event: 'session.issued' })
    expect(step('revoke', 'active', 'revoked').by).toEqual(['operator', 'system'])
    expect(step('end', 'active', 'revoked')).toMatchObject({ by: ['agent'], event: 'session.revoked' })
    expect(step('expire', 'approved', 'expired')).toMatchObject({ by: ['system'], event: 'session.expired' })
    expect(() => step('claim', 'pending_approval', 'active')).toThrow(/no step 'claim'/)
    expect(allows('deny', 'approved')).toBe(false)
  })
})

describe.each([memoryKind, localRedisKind])('the $name store accepts what the table allows', (kind) => {
  let fx: Fixture
  beforeEach(async () => {
    fx = await kind.open()
  })
  afterEach(async () => fx.close())

  /** The statuses a write guarded by `verb`'s from-states accepted, of all seven. */
  const accepted = async (verb: Verb, write: (cur: ReturnType<typeof makeRec>) => Promise<string>) => {
    const out: Status[] = []
    for (const status of STATUSES) {
      const cur = makeRec(fx.now(), { status, expires_at: fx.now() + DAY })
      expect(await fx.store.createSession(cur, DAY, fx.now())).toBe('ok')
      const r = await write(cur)
      expect(['ok', 'refused'], `${verb} from ${status}: ${r}`).toContain(r)
      if (r === 'ok') out.push(status)
    }
    return out
  }

  it.each(CHANGES)('compare-and-set as %s', async (verb) => {
    const got = await accepted(verb, (cur) =>
      fx.store.casSession({ ...cur, v: cur.v + 1, justification: 'changed' }, cur.v, {
        checkLocks: false,
        retentionMs: DAY,
        now: fx.now(),
        from: fromStates(verb),
      }),
    )
    expect(got).toEqual(STATUSES.filter((s) => fromStates(verb).includes(s)))
  })

  it.each(CHANGES)('audited update as %s', async (verb) => {
    let seq = 0
    const got = await accepted(verb, async (cur) => {
      const next = { seq: seq + 1, hash: `h${seq + 1}` }
      const r = await fx.store.appendAudit(
        'main',
        seq === 0 ? null : { seq, hash: `h${seq}` },
        next,
        ['{}'],
        DAY,
        {
          sessions: [],
          updates: [
            { rec: { ...cur, v: cur.v + 1 }, expectedV: cur.v, retentionMs: DAY, from: fromStates(verb) },
          ],
          now: fx.now(),
        },
      )
      if (r === 'ok') {
        seq++
        return 'ok'
      }
      return typeof r === 'object' ? (r.refused[0]?.result ?? 'none') : r
    })
    expect(got).toEqual(STATUSES.filter((s) => fromStates(verb).includes(s)))
  })
})
