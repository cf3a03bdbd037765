// The statuses a session can have. The transitions between them are src/sessions/lifecycle.ts.

/** What the API shows (docs/api.md). */
export const PUBLIC_STATUSES = [
  'pending_approval',
  'approved',
  'active',
  'denied',
  'expired',
  'revoked',
] as const
export type PublicStatus = (typeof PUBLIC_STATUSES)[number]

/** `issuing` is internal: the provider is minting; it shows as `approved`. */
export const STATUSES = [...PUBLIC_STATUSES, 'issuing'] as const
export type Status = (typeof STATUSES)[number]

export const FINAL: ReadonlySet<Status> = new Set<Status>(['denied', 'expired', 'revoked'])
export const isFinal = (s: Status): boolean => FINAL.has(s)
/** Statuses with a deadline the sweeper watches. */
export const LIVE: readonly Status[] = STATUSES.filter((s) => !FINAL.has(s))
