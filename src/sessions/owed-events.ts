// Audit events of session endings that landed without them: the audit log could not be written,
// and revocation never waits for it. They are kept in memory (a bounded list) and written on a
// timer once the log takes them again, marked `late` with the time of the ending.
import type { FastifyBaseLogger } from 'fastify'
import type { AuditInput, AuditLog } from '../audit/log.js'
import { ReplicaAckError } from '../store/durable.js'

export const OWED_MAX = 1000
export const OWED_RETRY_MS = 5000
/** Events written per append of a retry. */
const BATCH = 100

export interface OwedEvents {
  /** Keeps `event` (an ending's, with `late` and `ended_at` added by the caller) until it is written. */
  owe(event: AuditInput): void
  /** Writes what is owed now; resolves when the attempt is over, written or not. */
  retry(): Promise<void>
  /** Events still owed. */
  size(): number
  close(): void
}

export function createOwedEvents(deps: {
  audit: AuditLog
  log: FastifyBaseLogger
  max?: number
  retryMs?: number
}): OwedEvents {
  const { audit, log } = deps
  const max = deps.max ?? OWED_MAX
  let owed: AuditInput[] = []
  let dropped = 0
  let failing = false
  let running: Promise<void> | null = null
  let timer: NodeJS.Timeout | null = null
  let closed = false

  const reportDropped = () => {
    if (dropped === 0) return
    log.error({ dropped }, 'audit events of session endings dropped unwritten (too many owed)')
    dropped = 0
  }

  const attempt = async () => {
    reportDropped()
    while (owed.length > 0) {
      const batch = owed.slice(0, BATCH)
      try {
        await audit.record(...batch)
      } catch (e) {
        // Too few replica acknowledgements: the events are in the primary's chain, so not owed.
        if (!(e instanceof ReplicaAckError)) {
          if (!failing)
            log.warn({ owed: owed.length, err: (e as Error).message }, 'late audit events not written yet')
          failing = true
          return
        }
      }
      failing = false
      // By identity: the oldest may have been dropped while the batch was written.
      const written = new Set(batch)
      owed = owed.filter((e) => !written.has(e))
      log.info({ written: batch.length }, 'late audit events of session endings written')
    }
  }

  const retry = (): Promise<void> => {
    running ??= attempt().finally(() => {
      running = null
      if (owed.length === 0 && timer) {
        clearInterval(timer)
        timer = null
      }
    })
    return running
  }

  return {
    owe(event) {
      owed.push(event)
      if (owed.length > max) {
        dropped += owed.length - max
        owed = owed.slice(-max)
      }
      if (timer || closed) return
      timer = setInterval(() => void retry(), deps.retryMs ?? OWED_RETRY_MS)
      timer.unref()
    },
    retry,
    size: () => owed.length,
    close() {
      closed = true
      if (timer) clearInterval(timer)
      timer = null
      reportDropped()
      if (owed.length > 0)
        log.error({ owed: owed.length }, 'audit events of session endings left unwritten at shutdown')
    },
  }
}
