// The session lifecycle: request, issue, read, wait, revoke, expire, introspect. Every state
// change is a compare-and-set on the record (store.casSession), retried on conflict, so racing
// revokes, locks and sweeps on any replica converge on one outcome.
import type { Static } from '@sinclair/typebox'
import type { FastifyBaseLogger } from 'fastify'
import type { Grant as GrantSchema, SessionRequest as SessionRequestSchema } from '../schemas/session.js'
import type { AuditInput, AuditLog } from '../audit/log.js'
import type { Principal } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import { iso } from '../clock.js'
import { AirlockError, err } from '../errors.js'
import { newJti, newSessionId } from '../ids.js'
import type { Metrics } from '../metrics.js'
import { lockCovers } from '../locks/model.js'
import { decide } from '../policy/decide.js'
import type { Runtime } from '../runtime.js'
import { ReplicaAckError } from '../store/durable.js'
import type { CasResult, CreateResult, Store } from '../store/types.js'
import type { SessionClaims, TokenService } from '../tokens/tokens.js'
import {
  effectiveStatus,
  isFinal,
  scopeOf,
  summary,
  toPublic,
  type PublicSession,
  type SessionRecord,
} from './model.js'
import { scrub } from '../secrets/scrub.js'
import { bindAction } from '../gateway/action.js'
import type { Revoker } from './revoker.js'
import { checkNames, type TtlClamped } from './request-checks.js'

/** How long a provider may take to mint before the sweeper treats the attempt as dead. */
export const ISSUING_TIMEOUT_MS = 60_000
const CAS_ATTEMPTS = 64

// The HTTP schemas are the one definition of these shapes.
export type SessionRequest = Static<typeof SessionRequestSchema>
export type Grant = Static<typeof GrantSchema>

export interface SessionFilter {
  status?: string
  agent?: string
  environment?: string
  provider?: string
  operation_class?: string
  task_id?: string
}

export type IntrospectResult = ({ active: true } & Omit<SessionClaims, 'nbf'>) | { active: false }

export interface SessionServiceDeps {
  store: Store
  runtime: () => Runtime
  tokens: TokenService
  audit: AuditLog
  clock: Clock
  metrics: Metrics
  revoker: Revoker
  log: FastifyBaseLogger
  /**
   * Told of changes people watch elsewhere (a request going pending, a session ending) — the Slack
   * notifier. Awaited, so it must not throw and must be quick (it only queues work).
   */
  onChange?: (rec: SessionRecord) => Promise<void>
}

/** What a request adds to its first audit event. */
type RequestDetails = {
  action?: string
  task_description: string | null
  justification: string | null
  on_behalf_of: string | null
  ttl_seconds: number
  decision: string
  approvals_required: number
}

// Object.assign rather than spreads into a literal: V8 takes a slow path for `{ ...a, ...b, x }`
// (several microseconds per grant, measured), and these are built on every grant.
const requestSummary = (r: SessionRecord, d: RequestDetails) => Object.assign(summary(r), d)

const issuedDetails = (r: SessionRecord, d: RequestDetails | null, jti: string): Record<string, unknown> =>
  Object.assign(d ? requestSummary(r, d) : summary(r), { expires_at: iso(r.expires_at), jti })

export const matchesFilter = (r: SessionRecord, f: SessionFilter, now: number): boolean =>
  (f.status === undefined || effectiveStatus(r, now) === f.status) &&
  (f.agent === undefined || r.agent === f.agent) &&
  (f.environment === undefined || r.environment === f.environment) &&
  (f.provider === undefined || r.provider === f.provider) &&
  (f.operation_class === undefined || r.operation_class === f.operation_class) &&
  (f.task_id === undefined || r.task.id === f.task_id)

export function createSessionService(deps: SessionServiceDeps) {
  const { store, tokens, audit, clock, metrics, revoker, log } = deps
  const retention = () => deps.runtime().config.store.retentionMs

  type Transition = { rec: SessionRecord; before: SessionRecord; changed: boolean; locked: boolean }
  /**
   * Applies `change` atomically; null from `change` means "nothing to do". A change written on the
   * primary but acknowledged by too few replicas (ReplicaAckError) still runs `landed` (what must
   * follow it, like revoking the credentials) before the error goes to the caller.
   */
  async function transition(
    id: string,
    change: (cur: SessionRecord, now: number) => SessionRecord | null,
    checkLocks = false,
    landed?: (t: Transition) => Promise<void>,
  ): Promise<Transition> {
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const cur = await store.getSession(id)
      if (!cur) throw err.notFound()
      const now = clock.now()
      const next = change(cur, now)
      if (!next) return { rec: cur, before: cur, changed: false, locked: false }
      const candidate = { ...next, v: cur.v + 1 }
      let r: CasResult
      try {
        r = await store.casSession(candidate, cur.v, { checkLocks, retentionMs: retention(), now })
      } catch (e) {
        if (e instanceof ReplicaAckError) {
          store.publishChange(id)
          await landed?.({ rec: candidate, before: cur, changed: true, locked: false })
        }
        throw e
      }
      if (r === 'ok') {
        store.publishChange(id)
        return { rec: candidate, before: cur, changed: true, locked: false }
      }
      if (r === 'locked') return { rec: cur, before: cur, changed: false, locked: true }
      if (r === 'missing') throw err.notFound()
    }
    throw err.unavailable('the session is changing too fast; try again')
  }

  /**
   * Ends a live session as revoked (or expired, when its deadline already passed). `handle`: the
   * provider handle of credentials minted but not yet recorded, so the one revocation covers them.
   */
  async function finish(id: string, by: string, reason: string, handle?: Record<string, string>) {
    const after = (t: Transition) => afterFinish(t.before, t.rec, by, reason)
    const r = await transition(
      id,
      (cur, now) => {
        if (isFinal(cur.status)) return null
        const h = handle ?? cur.handle
        if (cur.expires_at <= now) return { ...cur, status: 'expired', handle: h }
        return { ...cur, status: 'revoked', revoked_by: by, revoked_at: now, handle: h }
      },
      false,
      after,
    )
    if (r.changed) await after(r)
    // Already finished: perhaps by an earlier try whose replicas did not answer in time. Answer
    // only once the replicas hold it.
    else await store.confirmWrites()
    return r
  }

  async function afterFinish(before: SessionRecord, rec: SessionRecord, by: string, reason: string) {
    const expired = rec.status === 'expired'
    ;(expired ? metrics.expired : metrics.revoked).inc()
    if (before.status === 'active' || before.status === 'issuing') await revoker.revokeCredentials(rec)
    // The state change stands even if the audit write fails: revocation is the safe direction.
    await audit
      .record({
        type: expired ? 'session.expired' : 'session.revoked',
        actor: expired ? 'airlock' : by,
        session_id: rec.id,
        details: { ...summary(rec), from: before.status, reason },
      })
      .catch((e: unknown) =>
        log.error({ session: rec.id, err: (e as Error).message }, 'audit write failed after revocation'),
      )
    await deps.onChange?.(rec)
  }

  const denyRequest = async (
    agent: string,
    body: SessionRequest,
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

  /** Mints credentials and the token for a session about to be active; audit first, then the grant. */
  async function issue(
    base: SessionRecord,
    requestDetails: RequestDetails | null,
  ): Promise<{ rec: SessionRecord; grant: Grant }> {
    const rt = deps.runtime()
    const provider = rt.providers.get(base.provider)
    if (!provider) throw err.unavailable(`provider ${base.provider} is not configured any more`)
    const nowSec = Math.floor(clock.now() / 1000)
    const exp = nowSec + base.ttl_seconds
    const jti = newJti()
    let rec: SessionRecord
    let credentials: Record<string, unknown> = {}
    // A new session with nothing outside Airlock is created together with its audit event.
    const createWithEvent = !provider.external && base.v === 0

    if (!provider.external) {
      // Nothing exists outside Airlock, so the record can go straight to active in one write.
      rec = { ...base, status: 'active', expires_at: exp * 1000, jti, handle: {} }
      if (!createWithEvent) {
        const t = await transition(base.id, (cur) => (cur.v === base.v ? rec : null), true)
        if (t.locked) throw err.policy(await lockReason(base))
        if (!t.changed) throw err.conflict('the session changed while it was being claimed')
        rec = t.rec
      }
    } else {
      // Issuing is a state of its own: a revoke or lock landing during the provider call wins,
      // and the fresh credentials are revoked at once.
      const issuing: SessionRecord = {
        ...base,
        status: 'issuing',
        expires_at: clock.now() + ISSUING_TIMEOUT_MS,
        jti,
      }
      if (base.v === 0) {
        const r = await store.createSession(issuing, retention(), clock.now())
        if (r === 'locked') return denyRequest(base.agent, requestOf(base), await lockReason(base), 'lock')
        if (r !== 'ok') throw err.unavailable('session id collision; try again')
      } else {
        const t = await transition(base.id, (cur) => (cur.v === base.v ? issuing : null), true)
        if (t.locked) throw err.policy(await lockReason(base))
        if (!t.changed) throw err.conflict('the session changed while it was being claimed')
        issuing.v = t.rec.v
      }
      let handle: Record<string, string>
      try {
        const issued = await provider.issue({
          sessionId: base.id,
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
        await finish(base.id, 'airlock', `provider could not issue: ${message}`).catch(() => {})
        throw err.unavailable(`provider ${base.provider} could not issue credentials: ${message}`, e)
      }
      const active: SessionRecord = {
        ...issuing,
        v: issuing.v + 1,
        status: 'active',
        expires_at: exp * 1000,
        handle,
      }
      const r = await store.casSession(active, issuing.v, {
        checkLocks: true,
        retentionMs: retention(),
        now: clock.now(),
      })
      if (r !== 'ok') {
        // Locked: end the session with the fresh handle, so its one revocation covers them.
        // Otherwise someone else ended it, without knowing the handle: revoke them here.
        const ended =
          r === 'locked' && (await finish(base.id, 'lock', 'a lock was created while issuing', handle))
        if (!ended || !ended.changed) await revoker.revokeCredentials(active)
        throw err.gone('the session was revoked while its credentials were being issued')
      }
      store.publishChange(base.id)
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
    const issuedEvent: AuditInput = {
      type: 'session.issued',
      actor: rec.agent,
      session_id: rec.id,
      details: issuedDetails(rec, requestDetails, jti),
    }
    // Sign (off the event loop) while the audit append travels; no grant leaves without both.
    // Both settle before anything is decided, so a failed signature never races the write.
    const [signed, written] = await Promise.allSettled([
      tokens.sign(claims),
      createWithEvent
        ? audit.create(rec, retention(), issuedEvent)
        : audit.record(issuedEvent).then((): CreateResult => 'ok'),
    ])
    if (written.status === 'fulfilled' && written.value === 'locked')
      return denyRequest(base.agent, requestOf(base), await lockReason(base), 'lock')
    // Nothing was written, and the id is someone else's: do not touch it.
    if (written.status === 'fulfilled' && written.value === 'exists')
      throw err.unavailable('session id collision; try again')
    if (written.status === 'rejected' || signed.status === 'rejected') {
      // The session may exist (written, or a lost reply after the write): it is ended.
      const unacked = written.status === 'rejected' && written.reason instanceof ReplicaAckError
      const why = unacked
        ? 'too few Redis replicas acknowledged the grant'
        : written.status === 'rejected'
          ? 'the audit log could not be written'
          : 'the token could not be signed'
      await finish(rec.id, 'airlock', why).catch(() => {})
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

  const requestOf = (r: SessionRecord): SessionRequest => ({
    environment: r.environment,
    operation_class: r.operation_class,
    provider: r.provider,
    task: { id: r.task.id },
  })

  /** The session record when the token's session is active, unlocked and this token's own (counted). */
  async function activeRecord(claims: SessionClaims): Promise<SessionRecord | null> {
    const now = clock.now()
    const scope = {
      agent: claims.sub,
      environment: claims.env,
      provider: claims.provider,
      task_id: claims.task,
    }
    const { rec, locked } = await store.introspect(claims.sid, scope, now)
    const active =
      rec !== null && !locked && rec.status === 'active' && rec.jti === claims.jti && rec.expires_at > now
    metrics.introspections.inc({ active: String(active) })
    return active ? rec : null
  }

  const visible = async (p: Principal, id: string): Promise<SessionRecord> => {
    const rec = await store.getSession(id)
    // An agent sees only its own sessions; others' do not exist for it.
    if (!rec || (p.kind === 'agent' && rec.agent !== p.id)) throw err.notFound()
    return rec
  }

  return {
    transition,
    // For the approval flow (src/approvals/service.ts): a claim mints through the same path.
    issue,
    finish,

    async request(
      p: Principal & { kind: 'agent' },
      body: SessionRequest,
    ): Promise<{ status: 201 | 202; session: PublicSession; grant?: Grant; ttlClamped?: TtlClamped }> {
      const rt = deps.runtime()
      const provider = checkNames(rt, body)
      const onBehalfOf = body.on_behalf_of ?? null
      if (onBehalfOf !== null && !rt.humans.has(onBehalfOf)) {
        throw err.invalid(`on_behalf_of: '${onBehalfOf}' is not a configured human`)
      }
      const destructive = rt.config.operationClasses.some(
        (c) => c.name === body.operation_class && c.destructive,
      )
      const bound = bindAction(provider, body, destructive)
      const decision = decide(rt.policy, {
        agent: p.id,
        environment: body.environment,
        operationClass: body.operation_class,
        provider: body.provider,
        onBehalfOf,
      })
      if (!decision.allow) return denyRequest(p.id, body, decision.reason, 'policy')

      const cfg = rt.config
      // Never longer than the policy allows, nor than the provider can issue (GitHub's tokens
      // live an hour at most); asked for more, it is lowered and the answer says so.
      const providerMax = provider.maxTtlSeconds ?? Infinity
      const ttl = Math.min(
        body.ttl_seconds ?? cfg.tokens.defaultTtlSeconds,
        decision.maxTtlSeconds,
        providerMax,
      )
      const ttlClamped =
        body.ttl_seconds !== undefined && body.ttl_seconds > ttl
          ? {
              requested_seconds: body.ttl_seconds,
              ttl_seconds: ttl,
              rule: providerMax < decision.maxTtlSeconds ? `provider ${body.provider}` : decision.ttlRule,
            }
          : undefined
      const now = clock.now()
      const base: SessionRecord = {
        v: 0,
        id: newSessionId(),
        status: 'pending_approval',
        agent: p.id,
        owners: p.agent.owners,
        on_behalf_of: onBehalfOf,
        task: { id: body.task.id, description: body.task.description ?? null },
        environment: body.environment,
        operation_class: body.operation_class,
        provider: body.provider,
        justification: body.justification ?? null,
        ttl_seconds: ttl,
        created_at: now,
        expires_at: now + cfg.approvals.timeoutMs,
        approvals_required: decision.approvals,
        approvals: [],
        eligible_approvers: decision.eligibleApprovers,
        rule: decision.rules.join('; '),
        denied_by: null,
        revoked_by: null,
        revoked_at: null,
        jti: null,
        handle: null,
        action: bound?.action ?? null,
        action_digest: bound?.digest ?? null,
      }
      const requestDetails: RequestDetails = {
        // What the approval is for, without its body (agent-written, possibly large).
        ...(bound && { action: `${bound.action.method} ${bound.action.path || '/'}` }),
        task_description: base.task.description,
        justification: base.justification,
        on_behalf_of: onBehalfOf,
        ttl_seconds: ttl,
        decision: decision.reason,
        approvals_required: decision.approvals,
      }

      if (decision.approvals > 0) {
        let r: CreateResult
        try {
          r = await audit.create(base, retention(), {
            type: 'session.requested',
            actor: p.id,
            session_id: base.id,
            details: requestSummary(base, requestDetails),
          })
        } catch (e) {
          // The write may have landed with its reply lost: a record that exists is ended.
          await finish(base.id, 'airlock', 'the audit log could not be written').catch(() => {})
          throw e
        }
        if (r === 'locked') return denyRequest(p.id, body, await lockReason(base), 'lock')
        if (r !== 'ok') throw err.unavailable('session id collision; try again')
        metrics.requested.inc()
        store.publishChange(base.id)
        await deps.onChange?.(base)
        return { status: 202, session: toPublic(base, now), ...(ttlClamped && { ttlClamped }) }
      }
      const { rec, grant } = await issue(base, requestDetails)
      return { status: 201, session: toPublic(rec, clock.now()), grant, ...(ttlClamped && { ttlClamped }) }
    },

    async get(p: Principal, id: string): Promise<PublicSession> {
      return toPublic(await visible(p, id), clock.now())
    },

    /**
     * Holds until the session's status changes (on any replica) or `seconds` pass. Changes that keep
     * the status (one approval of two) do not end the wait.
     */
    async wait(p: Principal, id: string, seconds: number, signal: AbortSignal): Promise<PublicSession> {
      const first = await visible(p, id)
      const status = effectiveStatus(first, clock.now())
      if (seconds <= 0 || status !== first.status || isFinal(first.status)) {
        return toPublic(first, clock.now())
      }
      const until = performance.now() + seconds * 1000
      let seen = first
      while (!signal.aborted) {
        // Wake at the session's own deadline too: it turns expired without any write.
        const left = Math.min(until - performance.now(), seen.expires_at - clock.now())
        if (left <= 0) break
        const stop = new AbortController()
        const relay = () => stop.abort()
        signal.addEventListener('abort', relay, { once: true })
        try {
          const { changed } = await store.watchChange(id, left, stop.signal)
          // Read again after listening, so a change between the last read and the subscription is seen.
          const again = await visible(p, id)
          if (effectiveStatus(again, clock.now()) !== status) return toPublic(again, clock.now())
          if (again.v === seen.v) await changed
          seen = again
        } finally {
          stop.abort()
          signal.removeEventListener('abort', relay)
        }
      }
      return toPublic(await visible(p, id), clock.now())
    },

    async list(filter: SessionFilter, limit: number, cursor: string | null) {
      const now = clock.now()
      const out: PublicSession[] = []
      let next = cursor
      // Scan a bounded number of records per call; the cursor resumes where the scan stopped.
      for (let scanned = 0; out.length < limit && scanned < 5000;) {
        const page = await store.listSessionIds(next, 200)
        const recs = await store.getSessions(page.ids)
        scanned += page.ids.length
        for (let i = 0; i < recs.length; i++) {
          const r = recs[i]
          if (!r || !matchesFilter(r, filter, now)) continue
          out.push(toPublic(r, now))
          if (out.length === limit) {
            const more = i < recs.length - 1 || page.next !== null
            return {
              sessions: out,
              next_cursor: more ? store.cursorAfter(r) : null,
            }
          }
        }
        next = page.next
        if (next === null) break
      }
      return { sessions: out, next_cursor: next }
    },

    /** The owning agent ends its session, or an operator revokes it. Idempotent. */
    async end(p: Principal, id: string): Promise<PublicSession> {
      await visible(p, id)
      const r = await finish(id, p.id, p.kind === 'agent' ? 'ended by the agent' : 'revoked by an operator')
      return toPublic(r.rec, clock.now())
    },

    /** Revokes every live session matching `match`; returns their ids. */
    async revokeMatching(
      by: string,
      reason: string | ((r: SessionRecord) => string),
      match: (r: SessionRecord) => boolean,
      /** Only these sessions (a provider's list); default: every live one. */
      only?: string[],
    ): Promise<string[]> {
      const ids = only ?? (await store.liveSessionIds())
      const revoked: string[] = []
      // Too few replica acknowledgements does not stop the sweep: every match is revoked on the
      // primary first, then the caller hears of it.
      let unacked: ReplicaAckError | null = null
      for (let i = 0; i < ids.length; i += 500) {
        const recs = await store.getSessions(ids.slice(i, i + 500))
        for (const r of recs) {
          if (!r || isFinal(r.status) || !match(r)) continue
          const why = typeof reason === 'string' ? reason : reason(r)
          const t = await finish(r.id, by, why).catch((e: unknown) => {
            if (e instanceof AirlockError && e.code === 'not_found') return null
            if (!(e instanceof ReplicaAckError)) throw e
            unacked = e
            return null
          })
          if (t?.changed && t.rec.status === 'revoked') revoked.push(r.id)
        }
      }
      if (unacked) throw unacked
      return revoked
    },

    /**
     * The gateway's check of a session token: what introspection checks (signature and lifetime,
     * the provider's audience, the session active and unlocked, the token the session's own), in
     * one store round trip. The claims and record when active, else null.
     */
    async authorize(token: string): Promise<{ claims: SessionClaims; rec: SessionRecord } | null> {
      const claims = await tokens.verify(token)
      if (claims === null || deps.runtime().providers.get(claims.provider)?.audience !== claims.aud) {
        metrics.introspections.inc({ active: 'false' })
        return null
      }
      const rec = await activeRecord(claims)
      return rec ? { claims, rec } : null
    },

    async introspect(p: Principal, token: string): Promise<IntrospectResult> {
      const claims = await tokens.verify(token)
      // Only tokens shaped exactly as minted: the audience must be the provider's own.
      const allowed =
        claims !== null &&
        deps.runtime().providers.get(claims.provider)?.audience === claims.aud &&
        (p.roles.includes('operator') ||
          (p.kind === 'resource_server' && p.audiences.includes(claims.aud)) ||
          (p.kind === 'agent' && claims.sub === p.id))
      if (!allowed) {
        metrics.introspections.inc({ active: 'false' })
        return { active: false }
      }
      if (!(await activeRecord(claims))) return { active: false }
      const { nbf: _nbf, ...rest } = claims
      return { active: true, ...rest }
    },
  }
}

export type SessionService = ReturnType<typeof createSessionService>
