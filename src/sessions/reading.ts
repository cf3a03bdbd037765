// Reading sessions: one (for its agent, approvers and operators), waiting for a change, listing,
// and the token checks (introspection, the gateway's authorize) in one store round trip.
import type { Principal } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import { effectiveStatus, toPublic, type PublicSession, type SessionRecord } from '../domain/session.js'
import { isFinal } from '../domain/status.js'
import { err } from '../errors.js'
import type { Metrics } from '../metrics.js'
import type { Runtime } from '../runtime.js'
import type { Store } from '../store/types.js'
import type { SessionClaims, TokenService } from '../tokens/tokens.js'

export interface SessionFilter {
  status?: string
  agent?: string
  environment?: string
  provider?: string
  operation_class?: string
  task_id?: string
}

export type IntrospectResult = ({ active: true } & Omit<SessionClaims, 'nbf'>) | { active: false }

export const matchesFilter = (r: SessionRecord, f: SessionFilter, now: number): boolean =>
  (f.status === undefined || effectiveStatus(r, now) === f.status) &&
  (f.agent === undefined || r.agent === f.agent) &&
  (f.environment === undefined || r.environment === f.environment) &&
  (f.provider === undefined || r.provider === f.provider) &&
  (f.operation_class === undefined || r.operation_class === f.operation_class) &&
  (f.task_id === undefined || r.task.id === f.task_id)

export function createReading(deps: {
  store: Store
  runtime: () => Runtime
  tokens: TokenService
  clock: Clock
  metrics: Metrics
}) {
  const { store, tokens, clock, metrics } = deps

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
    visible,

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
