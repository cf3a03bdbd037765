// Minting a grant: the credentials and the one token of a session about to be active. A request
// granted at once is created active with its audit event (`grant`: one append, shared with
// concurrent grants); a provider that mints outside Airlock makes issuing a state of its own
// (`start_issuing` or `claim`, then `activate`), so a revoke or lock landing during the provider
// call wins and the fresh credentials are revoked at once.
import type { FastifyBaseLogger } from 'fastify'
import type { AuditLog } from '../audit/log.js'
import { iso, type Clock } from '../clock.js'
import type { Grant } from '../domain/grant.js'
import { lockCovers } from '../domain/lock.js'
import { scopeOf, type SessionRecord } from '../domain/session.js'
import { AirlockError, err } from '../errors.js'
import { newJti } from '../ids.js'
import type { Metrics } from '../metrics.js'
import type { Runtime } from '../runtime.js'
import { scrub } from '../scrub.js'
import { ReplicaAckError } from '../store/durable.js'
import type { CreateResult, Store } from '../store/types.js'
import type { TokenService } from '../tokens/tokens.js'
import type { Ending } from './ending.js'
import { summary } from './model.js'
import type { SessionRecords, StepEvent } from './records.js'
import type { Revoker } from './revoker.js'
import { createUnclaim } from './unclaim.js'

/** How long a provider may take to mint before the sweeper treats the attempt as dead. */
export const ISSUING_TIMEOUT_MS = 60_000

/** What a request adds to its first audit event. */
export type RequestDetails = {
  action?: string
  task_description: string | null
  justification: string | null
  on_behalf_of: string | null
  ttl_seconds: number
  decision: string
  approvals_required: number
}

/** What a refused request's event names. */
export interface RequestScope {
  environment: string
  operation_class: string
  provider: string
  task: { id: string }
}

// Object.assign rather than spreads into a literal: V8 takes a slow path for `{ ...a, ...b, x }`
// (several microseconds per grant, measured), and these are built on every grant.
export const requestSummary = (r: SessionRecord, d: RequestDetails) => Object.assign(summary(r), d)

const issuedDetails = (r: SessionRecord, d: RequestDetails | null, jti: string): Record<string, unknown> =>
  Object.assign(d ? requestSummary(r, d) : summary(r), { expires_at: iso(r.expires_at), jti })

const requestOf = (r: SessionRecord): RequestScope => ({
  environment: r.environment,
  operation_class: r.operation_class,
  provider: r.provider,
  task: { id: r.task.id },
})

export interface IssuingDeps {
  store: Store
  records: SessionRecords
  ending: Ending
  runtime: () => Runtime
  tokens: TokenService
  audit: AuditLog
  clock: Clock
  metrics: Metrics
  revoker: Revoker
  log: FastifyBaseLogger
}

export function createIssuing(deps: IssuingDeps) {
  const { store, records, ending, tokens, audit, clock, metrics, revoker } = deps
  const unclaim = createUnclaim(deps)

  /** Audits a refused request and throws the policy error. */
  const denyRequest = async (
    agent: string,
    body: RequestScope,
    reason: string,
    kind: string,
  ): Promise<never> => {
    metrics.denied.inc({ reason: kind })
    await audit.record({
      type: 'request.denied',
      actor: agent,
      details: {
        environment: body.environment,
        operation_class: body.operation_class,
        provider: body.provider,
        task_id: body.task.id,
        reason,
      },
    })
    throw err.policy(reason)
  }

  async function lockReason(rec: SessionRecord): Promise<string> {
    const now = clock.now()
    const lock = (await store.listLocks()).find((l) => lockCovers(l, scopeOf(rec), now))
    return lock ? `a lock holds (${lock.id}: ${lock.reason})` : 'a lock holds'
  }

  /**
   * Claims the approved `base` (still at its version) into `next`, with `event` in the same atomic
   * append when the step has one; throws when it cannot. A claim whose write failed (refused, its
   * reply lost, or not acknowledged by the replicas) is undone if it landed (back to approved)
   * before the 503: see unclaim.ts.
   */
  async function claimInto(
    base: SessionRecord,
    next: SessionRecord,
    event?: StepEvent,
  ): Promise<SessionRecord> {
    const change = (cur: SessionRecord) => (cur.v === base.v ? next : null)
    const opts = { checkLocks: true, nothing: 'nothing was issued' }
    const t = await (
      event
        ? records.changeWith(base.id, 'claim', change, () => event, opts)
        : records.change(base.id, 'claim', change, opts)
    ).catch((e: unknown) => {
      // A refusal the store answered (a lock, a conflict) or a missing session changed nothing.
      if (e instanceof AirlockError && e.code !== 'unavailable') throw e
      return unclaim.undo(base, { ...next, v: base.v + 1 }, null, e)
    })
    if (t.locked) throw err.policy(await lockReason(base))
    if (!t.changed) throw err.conflict('the session changed while it was being claimed')
    return t.rec
  }

  /**
   * Mints credentials and the token for a session about to be active: a new one (`base.v` 0,
   * granted at once) or a claimed approved one. Audit first, then the grant. `recorded`: told once
   * a new session's write as issuing settled, before the provider is asked (the decision is in the
   * store then, and a reload need not wait for the provider).
   */
  async function issue(
    base: SessionRecord,
    requestDetails: RequestDetails | null,
    recorded: () => void = () => {},
  ): Promise<{ rec: SessionRecord; grant: Grant }> {
    const rt = deps.runtime()
    const provider = rt.providers.get(base.provider)
    if (!provider) throw err.unavailable(`provider ${base.provider} is not configured any more`)
    const nowSec = Math.floor(clock.now() / 1000)
    const exp = nowSec + base.ttl_seconds
    const jti = newJti()
    let rec: SessionRecord
    let credentials: Record<string, unknown> = {}
    // With nothing outside Airlock, a new session is created together with its audit event, and
    // an approved one is claimed together with it.
    const createWithEvent = !provider.external && base.v === 0
    const claimWithEvent = !provider.external && base.v !== 0

    if (!provider.external) {
      // Nothing exists outside Airlock, so the record can go straight to active in one write.
      rec = { ...base, status: 'active', expires_at: exp * 1000, jti, handle: {} }
    } else {
      const issuing: SessionRecord = {
        ...base,
        status: 'issuing',
        expires_at: clock.now() + ISSUING_TIMEOUT_MS,
        jti,
      }
      if (base.v === 0) {
        const r = await records.create('start_issuing', issuing).finally(recorded)
        if (r === 'locked') return denyRequest(base.agent, requestOf(base), await lockReason(base), 'lock')
        if (r !== 'ok') throw err.unavailable('session id collision; try again')
      } else {
        issuing.v = (await claimInto(base, issuing)).v
      }
      let handle: Record<string, string>
      try {
        const issued = await provider.issue({
          sessionId: base.id,
          attempt: jti,
          agent: base.agent,
          taskId: base.task.id,
          environment: base.environment,
          operationClass: base.operation_class,
          ttlSeconds: base.ttl_seconds,
          expiresAt: exp * 1000,
        })
        credentials = issued.credentials
        handle = issued.handle
      } catch (e) {
        const message = scrub((e as Error).message)
        await ending
          .finish('revoke', base.id, 'airlock', `provider could not issue: ${message}`)
          .catch(() => {})
        throw err.unavailable(`provider ${base.provider} could not issue credentials: ${message}`, e)
      }
      const active: SessionRecord = {
        ...issuing,
        v: issuing.v + 1,
        status: 'active',
        expires_at: exp * 1000,
        handle,
      }
      // Past its issuing deadline the session reads as expired (and revocations by agent or
      // provider pass it by): it must not come back to life. It ends expired, its fresh
      // credentials revoked. The record's version pins the deadline checked here.
      if (issuing.expires_at <= clock.now()) {
        const ended = await ending
          .finish('revoke', base.id, 'airlock', 'the provider took too long to issue', handle)
          .catch(() => null)
        if (!ended?.changed) await revoker.revokeCredentials(active)
        throw err.unavailable(
          `provider ${base.provider} took longer than ${ISSUING_TIMEOUT_MS / 1000}s to issue credentials; the session expired and they were revoked: request a new one`,
        )
      }
      const r = await records.replace('activate', active, issuing, true).catch((e: unknown) => {
        // A claim's activation that failed (landed or not) is undone; a new session's stays a 503.
        if (base.v === 0) throw e
        return unclaim.undo(base, active, handle, e)
      })
      if (r !== 'ok') {
        // Locked: end the session with the fresh handle, so its one revocation covers them.
        // Otherwise someone else ended it, without knowing the handle: revoke them here.
        const ended =
          r === 'locked' &&
          (await ending.finish('revoke', base.id, 'lock', 'a lock was created while issuing', handle))
        if (!ended || !ended.changed) await revoker.revokeCredentials(active)
        throw err.gone('the session was revoked while its credentials were being issued')
      }
      rec = active
    }

    const claims = {
      sub: rec.agent,
      client_id: rec.agent,
      aud: provider.audience,
      iat: nowSec,
      nbf: nowSec,
      exp,
      jti,
      sid: rec.id,
      env: rec.environment,
      op: rec.operation_class,
      provider: rec.provider,
      task: rec.task.id,
    }
    // A request granted at once is one state change (requested, decided and issued together), so
    // one event carries all of it; a claimed grant's request was audited when it went pending.
    const issuedEvent = {
      actor: rec.agent,
      session_id: rec.id,
      details: issuedDetails(rec, requestDetails, jti),
    }
    // Sign (off the event loop) while the audit append travels; no grant leaves without both.
    // Both settle before anything is decided, so a failed signature never races the write.
    const [signed, written] = await Promise.allSettled([
      tokens.sign(claims),
      createWithEvent
        ? records.create('grant', rec, issuedEvent)
        : claimWithEvent
          ? claimInto(base, rec, issuedEvent).then((r): CreateResult => {
              rec = r
              return 'ok'
            })
          : audit
              .record({ type: records.eventOf('activate', 'issuing', 'active'), ...issuedEvent })
              .then((): CreateResult => 'ok'),
    ])
    if (written.status === 'fulfilled' && written.value === 'locked')
      return denyRequest(base.agent, requestOf(base), await lockReason(base), 'lock')
    // Nothing was written, and the id is someone else's: do not touch it.
    if (written.status === 'fulfilled' && written.value === 'exists')
      throw err.unavailable('session id collision; try again')
    // A claim written with its event changed nothing unless it landed (its refusals, lock,
    // conflict or an unwritable audit log, are the caller's answer), or was undone already.
    if (written.status === 'rejected' && claimWithEvent) throw written.reason
    // A claim's activation whose issued event failed (refused, its reply lost, or unacknowledged)
    // is undone: its token is never handed out, its credentials are revoked.
    if (written.status === 'rejected' && base.v !== 0)
      return unclaim.undo(base, rec, provider.external ? rec.handle : null, written.reason)
    if (written.status === 'rejected' || signed.status === 'rejected') {
      // The session may exist (written, or a lost reply after the write): it is ended.
      const unacked = written.status === 'rejected' && written.reason instanceof ReplicaAckError
      const why = unacked
        ? 'too few Redis replicas acknowledged the grant'
        : written.status === 'rejected'
          ? 'the audit log could not be written'
          : 'the token could not be signed'
      await ending.finish('revoke', rec.id, 'airlock', why).catch(() => {})
      if (unacked)
        throw err.unavailable(
          'too few Redis replicas acknowledged the grant in time; nothing was issued: retry',
          written.reason,
        )
      if (written.status === 'rejected')
        throw err.unavailable('the audit log cannot be written; nothing was issued', written.reason)
      const e: unknown = (signed as PromiseRejectedResult).reason
      if (e instanceof AirlockError) throw e
      throw err.unavailable('the grant could not be completed; nothing was issued', e)
    }
    const token = signed.value
    // A provider whose grant is a way back to Airlock (the gateway) builds it around the token.
    if (provider.grantCredentials) credentials = provider.grantCredentials(token, rt.config.server.publicUrl)
    metrics.issued.inc({ provider: rec.provider, operation_class: rec.operation_class })
    return { rec, grant: { token, token_type: 'Bearer', expires_at: iso(rec.expires_at), credentials } }
  }

  return { issue, denyRequest, lockReason }
}

export type Issuing = ReturnType<typeof createIssuing>
