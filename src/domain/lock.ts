// An operator's quarantine: every dimension it names must match.
import { iso } from './time.js'

/** The dimensions a lock can match, as a session has them. */
export interface LockScope {
  agent: string
  environment: string
  provider: string
  task_id: string
}

export interface Lock {
  id: string
  agent: string | null
  environment: string | null
  provider: string | null
  task_id: string | null
  reason: string
  expires_at: number | null
  created_by: string
  created_at: number
}

export const lockMatch = (l: Lock) => ({
  ...(l.agent !== null && { agent: l.agent }),
  ...(l.environment !== null && { environment: l.environment }),
  ...(l.provider !== null && { provider: l.provider }),
  ...(l.task_id !== null && { task_id: l.task_id }),
})

export function lockCovers(l: Lock, scope: LockScope, now: number): boolean {
  if (l.expires_at !== null && l.expires_at <= now) return false
  return (
    (l.agent === null || l.agent === scope.agent) &&
    (l.environment === null || l.environment === scope.environment) &&
    (l.provider === null || l.provider === scope.provider) &&
    (l.task_id === null || l.task_id === scope.task_id)
  )
}

export const lockToPublic = (l: Lock) => ({
  ...l,
  expires_at: l.expires_at === null ? null : iso(l.expires_at),
  created_at: iso(l.created_at),
})
