// Issue attempts: a session's credentials may be minted more than once (a claim undone and claimed
// again), and each attempt's credentials carry a name of their own so that revoking one attempt
// never reaches another's. The tag is short (names outside Airlock have tight limits) and derived
// from the attempt's id, so every retry of one attempt arrives at the same name.
import { createHash } from 'node:crypto'

/** 8 hex characters of the SHA-256 of `parts` (joined by NUL): short names outside Airlock. */
export const h8 = (...parts: string[]): string =>
  createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 8)

/** 8 hex characters naming one attempt among a session's attempts. */
export const attemptTag = (attempt: string): string => h8('airlock-attempt', attempt)
