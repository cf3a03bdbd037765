// Provider-side revocation. A failure is never dropped: it goes to a durable job queue (src/queue)
// and is retried with capped exponential backoff until the provider confirms.
import type { FastifyBaseLogger } from 'fastify'
import type { Backend } from '../backend.js'
import type { Clock } from '../clock.js'
import type { Provider } from '../../providers/types.js'
import type { Metrics } from '../metrics.js'
import { createQueue, type Queue } from '../queue/index.js'
import type { Runtime } from '../runtime.js'
import { QUEUES } from '../store/keys.js'
import { scrub } from '../scrub.js'
import type { SessionRecord } from '../domain/index.js'

/** A revocation to retry: what the provider needs, and how it went so far. */
export interface RevocationJob {
  /**
   * `rev_<session id>.<attempt>`: queueing the same attempt again replaces its job, while another
   * attempt's revocation waits beside it (`rev_<session id>` before attempts had names).
   */
  id: string
  provider: string
  sessionId: string
  /** The issue attempt (the record's jti); absent on jobs queued before attempts had names. */
  attempt?: string | null
  environment: string
  operationClass: string
  handle: Record<string, string> | null
  expiresAt: number
  attempts: number
  lastError: string | null
}

/** The queue of revocations to retry, in the broker's backend. */
export const revocationQueue = (backend: Backend): Queue<RevocationJob> =>
  createQueue<RevocationJob>(backend, 'revocations', (j) => j.id)

const MAX_BACKOFF_MS = 5 * 60_000
/** A provider call that hangs counts as failed (and is retried), so it cannot hold up the sweeper. */
const ATTEMPT_TIMEOUT_MS = 10_000
/** Retries running at once. */
const RETRY_CONCURRENCY = 8
export const backoff = (attempts: number): number =>
  Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(attempts, 20)) * (0.5 + Math.random() / 2)

/** How a revocation went: confirmed, queued for a retry, or neither (the queue could not be written). */
export type RevokeOutcome = 'revoked' | 'queued' | 'unqueued'

export interface Revoker {
  /**
   * Revokes the session's provider credentials now, or queues the attempt. Never throws. True when
   * nothing is left to revoke (the provider confirmed, or has nothing outside Airlock); false when
   * the revocation was queued for a retry.
   */
  revokeCredentials(rec: SessionRecord): Promise<boolean>
  /** revokeCredentials, telling a queued revocation from one the queue could not take. */
  revokeOrQueue(rec: SessionRecord): Promise<RevokeOutcome>
  /** Retries due jobs (called by the worker). */
  retryDue(limit?: number): Promise<number>
  /** Revocations waiting to be retried. */
  backlog(): Promise<number>
}

export function createRevoker(deps: {
  queue: Queue<RevocationJob>
  runtime: () => Runtime
  clock: Clock
  metrics: Metrics
  log: FastifyBaseLogger
  /** Providers a reload removed: their sessions' credentials are still revoked through them. */
  retired?: (name: string) => Provider | undefined
}): Revoker {
  const providerOf = (name: string) => deps.runtime().providers.get(name) ?? deps.retired?.(name)
  const { queue, clock, metrics, log } = deps

  const attempt = async (job: RevocationJob): Promise<void> => {
    const provider = providerOf(job.provider)
    if (!provider) throw new Error(`provider ${job.provider} is no longer configured`)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`provider ${job.provider} did not answer within ${ATTEMPT_TIMEOUT_MS / 1000} s`)),
        ATTEMPT_TIMEOUT_MS,
      )
    })
    const call = provider.revoke({
      sessionId: job.sessionId,
      attempt: job.attempt ?? null,
      environment: job.environment,
      operationClass: job.operationClass,
      handle: job.handle,
      expiresAt: job.expiresAt,
    })
    call.catch(() => {}) // a late failure after the timeout is already counted
    try {
      await Promise.race([call, timeout])
    } finally {
      clearTimeout(timer)
    }
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
    if (claimed) await queue.retry(job, next, now + backoff(next.attempts), now)
    else await queue.put(next, now + backoff(next.attempts))
  }

  const revokeOrQueue = async (rec: SessionRecord): Promise<RevokeOutcome> => {
    const provider = providerOf(rec.provider)
    if (provider && !provider.external) return 'revoked'
    const job: RevocationJob = {
      id: rec.jti ? `rev_${rec.id}.${rec.jti}` : `rev_${rec.id}`,
      provider: rec.provider,
      sessionId: rec.id,
      attempt: rec.jti,
      environment: rec.environment,
      operationClass: rec.operation_class,
      handle: rec.handle,
      expiresAt: rec.expires_at,
      attempts: 0,
      lastError: null,
    }
    try {
      await attempt(job)
      return 'revoked'
    } catch (e) {
      return failed(job, e, false).then(
        (): RevokeOutcome => 'queued',
        (qe: unknown): RevokeOutcome => {
          log.error(
            { session: rec.id, err: (qe as Error).message },
            'revocation failed and could not be queued',
          )
          return 'unqueued'
        },
      )
    }
  }

  return {
    revokeCredentials: async (rec) => (await revokeOrQueue(rec)) === 'revoked',
    revokeOrQueue,
    async retryDue(limit = 50) {
      const jobs = await queue.claim(clock.now(), QUEUES.revocations.leaseMs, limit)
      let next = 0
      const worker = async () => {
        while (next < jobs.length) {
          const job = jobs[next++] as RevocationJob
          try {
            await attempt(job)
            await queue.finish(job, clock.now())
          } catch (e) {
            await failed(job, e, true)
          }
        }
      }
      await Promise.all(Array.from({ length: Math.min(RETRY_CONCURRENCY, jobs.length) }, worker))
      return jobs.length
    },
    backlog: () => queue.size(),
  }
}
