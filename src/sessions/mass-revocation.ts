// A provider that had to cut off credentials wholesale (the aws provider's `aws:TokenIssueTime`
// fallback when its deny list would overflow) reports the sessions it cut off: they are revoked
// like an operator's bulk revoke, so Airlock never shows active a session whose credentials are
// dead, and the event is audited and logged loudly.
import type { FastifyBaseLogger } from 'fastify'
import type { AuditLog } from '../audit/log.js'
import type { SessionService } from './service.js'

export type MassRevocation = (provider: string, sessionIds: string[], reason: string) => Promise<string[]>

/** `sessions` is read late: the runtime (and so the providers) is built before the session service. */
export function createMassRevocation(deps: {
  sessions: () => SessionService | null
  audit: AuditLog
  log: FastifyBaseLogger
}): MassRevocation {
  return async (provider, sessionIds, reason) => {
    const sessions = deps.sessions()
    if (!sessions) throw new Error('the broker is still starting')
    deps.log.error(
      { provider, sessions: sessionIds.length, reason },
      'a provider cut off sessions wholesale; revoking them in Airlock',
    )
    // Only the sessions the provider named (and only its own), not a scan of every live one.
    const revoked = await sessions.revokeMatching(
      'airlock',
      `${provider}: ${reason}`,
      (r) => r.provider === provider,
      sessionIds,
    )
    await deps.audit.record({
      type: 'provider.mass_revocation',
      actor: 'airlock',
      details: { provider, reason, session_ids: sessionIds, revoked },
    })
    return revoked
  }
}
