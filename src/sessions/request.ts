// An agent's request: names and TTL checked, the policy decided, then either a pending request
// (`request`, created with its audit event) or a grant at once (issuing.ts). The decision counts
// as in flight until the write that records it settles, so a reload judges its session (in-flight.ts).
import type { Static } from '@sinclair/typebox'
import type { FastifyBaseLogger } from 'fastify'
import type { Principal } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import type { Grant } from '../domain/grant.js'
import { toPublic, type PublicSession, type SessionRecord } from '../domain/session.js'
import { err } from '../errors.js'
import { bindAction } from '../gateway/action.js'
import { newSessionId } from '../ids.js'
import type { Metrics } from '../metrics.js'
import { decide, isDestructive } from '../policy/decide.js'
import type { Runtime } from '../runtime.js'
import type { SessionRequest as SessionRequestSchema, TtlClamped } from '../schemas/session.js'
import type { CreateResult } from '../store/types.js'
import type { Ending } from './ending.js'
import type { DecisionsInFlight } from './in-flight.js'
import { requestSummary, type Issuing, type RequestDetails } from './issuing.js'
import type { SessionRecords } from './records.js'
import { checkNames } from './request-checks.js'

// The HTTP schema is the one definition of this shape.
export type SessionRequest = Static<typeof SessionRequestSchema>

export interface RequestDeps {
  records: SessionRecords
  issuing: Issuing
  ending: Ending
  inFlight: Pick<DecisionsInFlight, 'begin'>
  clock: Clock
  metrics: Metrics
  log: FastifyBaseLogger
  onChange?: (rec: SessionRecord) => Promise<void>
}

export function createRequests(deps: RequestDeps) {
  const { records, issuing, ending, clock, metrics } = deps

  type Answer = { status: 201 | 202; session: PublicSession; grant?: Grant; ttlClamped?: TtlClamped }

  return async function request(p: Principal & { kind: 'agent' }, body: SessionRequest): Promise<Answer> {
    const { rt, done } = deps.inFlight.begin()
    try {
      return await decideAndWrite(rt, p, body, done)
    } finally {
      done()
    }
  }

  /** `written`: called once the write recording the decision settled (landed or failed). */
  async function decideAndWrite(
    rt: Runtime,
    p: Principal & { kind: 'agent' },
    body: SessionRequest,
    written: () => void,
  ): Promise<Answer> {
    const provider = checkNames(rt, body)
    const onBehalfOf = body.on_behalf_of ?? null
    if (onBehalfOf !== null && !rt.humans.has(onBehalfOf)) {
      throw err.invalid(`on_behalf_of: '${onBehalfOf}' is not a configured human`)
    }
    const destructive = isDestructive(rt.config.operationClasses, body.operation_class)
    const bound = bindAction(provider, body, destructive)
    const decision = decide(rt.policy, {
      agent: p.id,
      environment: body.environment,
      operationClass: body.operation_class,
      provider: body.provider,
      onBehalfOf,
    })
    if (!decision.allow) return issuing.denyRequest(p.id, body, decision.reason, 'policy')

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
        r = await records.create('request', base, {
          actor: p.id,
          session_id: base.id,
          details: requestSummary(base, requestDetails),
        })
      } catch (e) {
        // The write may have landed with its reply lost: a record that exists is ended.
        await ending
          .finish('revoke', base.id, 'airlock', 'the audit log could not be written')
          .catch(() => {})
        throw e
      }
      if (r === 'locked') return issuing.denyRequest(p.id, body, await issuing.lockReason(base), 'lock')
      if (r !== 'ok') throw err.unavailable('session id collision; try again')
      metrics.requested.inc()
      await deps.onChange?.(base)
      return { status: 202, session: toPublic(base, now), ...(ttlClamped && { ttlClamped }) }
    }
    const { rec, grant } = await issuing.issue(base, requestDetails, written)
    return { status: 201, session: toPublic(rec, clock.now()), grant, ...(ttlClamped && { ttlClamped }) }
  }
}
