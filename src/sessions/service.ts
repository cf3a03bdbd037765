// The session service: what routes, approvals, locks and the sweeper ask of sessions. Each part
// is a file of its own:
//   lifecycle.ts  the transition table (verbs, from -> to, who, which event, credentials revoked)
//   records.ts    the session store: the one place a session is written, step by step
//   request.ts    an agent's request: checks, policy, pending or granted at once
//   issuing.ts    minting credentials and the token (grant, claim, activate)
//   unclaim.ts    undoing a claim whose write failed or went unacknowledged (back to approved)
//   decisions.ts  approve, deny and claim
//   ending.ts     end, revoke (and expire when the deadline passed)
//   matching.ts   the live sessions a bulk revoke ends (and its preview lists)
//   reading.ts    get, wait, list, introspect, authorize
//   expiry.ts     the sweeper's expiry in bulk
//   in-flight.ts  decisions not yet written, which a reload waits for before it judges sessions
import type { FastifyBaseLogger } from 'fastify'
import type { AuditLog } from '../audit/log.js'
import type { Principal } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import { toPublic, type PublicSession, type SessionRecord } from '../domain/session.js'
import type { Metrics } from '../metrics.js'
import type { Runtime } from '../runtime.js'
import type { Store } from '../store/types.js'
import type { TokenService } from '../tokens/tokens.js'
import { createDecisions } from './decisions.js'
import { createEnding } from './ending.js'
import type { DecisionsInFlight } from './in-flight.js'
import { createIssuing } from './issuing.js'
import { liveMatching } from './matching.js'
import { createReading } from './reading.js'
import { createSessionRecords } from './records.js'
import { createRequests } from './request.js'
import type { Revoker } from './revoker.js'

export interface SessionServiceDeps {
  store: Store
  runtime: () => Runtime
  /** Counts a request's decision until it is written (in-flight.ts). */
  inFlight: DecisionsInFlight
  tokens: TokenService
  audit: AuditLog
  clock: Clock
  metrics: Metrics
  revoker: Revoker
  log: FastifyBaseLogger
  /**
   * Told of changes people watch elsewhere (a request going pending, a decision, a session
   * ending) — the Slack notifier. Awaited, so it must not throw and must be quick (it only queues work).
   */
  onChange?: (rec: SessionRecord) => Promise<void>
}

export function createSessionService(deps: SessionServiceDeps) {
  const { store, clock } = deps
  const records = createSessionRecords({
    store,
    audit: deps.audit,
    clock,
    retentionMs: () => deps.runtime().config.store.retentionMs,
  })
  const ending = createEnding({ ...deps, records })
  const issuing = createIssuing({ ...deps, records, ending })
  const decisions = createDecisions({ ...deps, records, issuing })
  const reading = createReading(deps)
  const request = createRequests({ ...deps, records, issuing, ending })

  return {
    records,
    request,
    get: reading.get,
    wait: reading.wait,
    list: reading.list,
    authorize: reading.authorize,
    introspect: reading.introspect,

    /** approve or deny (see decisions.ts); the approvals service says who may. */
    decide: decisions.decide,
    /** The owning agent's claim of an approved grant. */
    claim: decisions.claim,

    /** The owning agent ends its session, or an operator revokes it. Idempotent. */
    async end(p: Principal, id: string): Promise<PublicSession> {
      await reading.visible(p, id)
      const r =
        p.kind === 'agent'
          ? await ending.finish('end', id, p.id, 'ended by the agent')
          : await ending.finish('revoke', id, p.id, 'revoked by an operator')
      return toPublic(r.rec, clock.now())
    },

    /** Revokes every live session matching `match`; returns their ids. */
    revokeMatching: ending.revokeMatching,
    /** The live sessions `match` hits, a chunk at a time: what revokeMatching would revoke now. */
    liveMatching: (match: (r: SessionRecord) => boolean) => liveMatching(deps, match),
    /** Stops retrying the audit events of endings still owed (before the audit log closes). */
    close: ending.close,
  }
}

export type SessionService = ReturnType<typeof createSessionService>
