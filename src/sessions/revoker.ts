// Provider-side revocation. A failure is never dropped: it goes to a durable queue in the store
// and is retried with capped exponential backoff until the provider confirms.
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.js'
import type { Provider } from '../../providers/types.js'
import type { Metrics } from '../metrics.js'
import type { Runtime } from '../runtime.js'
import type { RevocationJob, RevocationStore } from '../store/types.js'
import { scrub } from '../secrets/scrub.js'
import type { SessionRecord } from './model.js'

const MAX_BACKOFF_MS = 5 * 60_000
export const backoff = (attempts: number): number =>
  Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(attempts, 20)) * (0.5 + Math.random() / 2)

export interface Revoker {
  /** Revokes the session's provider credentials now, or queues the attempt. Never throws. */
  revokeCredentials(rec: SessionRecord): Promise<void>
  /** Retries due jobs (called by the worker). */
  retryDue(limit?: number): Promise<number>
}

export function createRevoker(deps: {
  store: RevocationStore
  runtime: () => Runtime
  clock: Clock
  metrics: Metrics
  log: FastifyBaseLogger
  /** Providers a reload removed: their sessions' credentials are still revoked through them. */
  retired?: (name: string) => Provider | undefined
}): Revoker {
  const providerOf = (name: string) => deps.runtime().providers.get(name) ?? deps.retired?.(name)
  const { store, clock, metrics, log } = deps

  const attempt = async (job: RevocationJob): Promise<void> => {
    const provider = providerOf(job.provider)
    if (!provider) throw new Error(`provider ${job.provider} is no longer configured`)
    await provider.revoke({
      sessionId: job.sessionId,
      environment: job.environment,
      operationClass: job.operationClass,
      handle: job.handle,
      expiresAt: job.expiresAt,
    })
  }

  /** `claimed`: the job came from the queue (a retry), so a replacement queued meanwhile wins. */
  const failed = async (job: RevocationJob, e: unknown, claimed: boolean) => {
    metrics.revocationFailures.inc({ provider: job.provider })
    const next = { ...job, attempts: job.attempts + 1, lastError: scrub((e as Error).message) }
    log.warn(
      { session: job.sessionId, provider: job.provider, attempts: next.attempts, err: next.lastError },
      'revocation failed, queued',
    )
    const now = clock.now()
    if (claimed) await store.retryRevocation(job, next, now + backoff(next.attempts), now)
    else await store.enqueueRevocation(next, now + backoff(next.attempts))
  }

  return {
    async revokeCredentials(rec) {
      const provider = providerOf(rec.provider)
      if (provider && !provider.external) return
      const job: RevocationJob = {
        id: `rev_${rec.id}`,
        provider: rec.provider,
        sessionId: rec.id,
        environment: rec.environment,
        operationClass: rec.operation_class,
        handle: rec.handle,
        expiresAt: rec.expires_at,
        attempts: 0,
        lastError: null,
      }
      try {
        await attempt(job)
      } catch (e) {
        await failed(job, e, false).catch((qe: unknown) =>
          log.error(
            { session: rec.id, err: (qe as Error).message },
            'revocation failed and could not be queued',
          ),
        )
      }
    },
    async retryDue(limit = 50) {
      const jobs = await store.claimRevocations(clock.now(), 60_000, limit)
      for (const job of jobs) {
        try {
          await attempt(job)
          await store.finishRevocation(job, clock.now())
        } catch (e) {
          await failed(job, e, true)
        }
      }
      return jobs.length
    },
  }
}
