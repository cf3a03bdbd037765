// The one error catalogue: stable codes and their HTTP statuses (docs/api.md, "Errors").
export const ERRORS = {
  invalid_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  policy_denied: 403,
  not_found: 404,
  conflict: 409,
  approval_pending: 409,
  gone: 410,
  payload_too_large: 413,
  // Not in the table of docs/api.md: a body that is not JSON where JSON is required.
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
  /** A gateway call outside the session's class or environment (docs/gateway.md). */
  operation_denied: 403,
  /** The gateway's upstream cannot be reached or did not answer in time. */
  upstream_error: 502,
  // Not in the table of docs/api.md (a client mistake is never a 500): a bug, named by its request id.
  internal_error: 500,
} as const

export type ErrorCode = keyof typeof ERRORS

export class AirlockError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  /** Seconds, for 429 `Retry-After`. */
  readonly retryAfter: number | undefined

  constructor(code: ErrorCode, message: string, opts: { retryAfter?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'AirlockError'
    this.code = code
    this.statusCode = ERRORS[code]
    this.retryAfter = opts.retryAfter
  }
}

export const err = {
  invalid: (m: string) => new AirlockError('invalid_request', m),
  unauthenticated: (m = 'missing or invalid credential') => new AirlockError('unauthenticated', m),
  forbidden: (m: string) => new AirlockError('forbidden', m),
  policy: (m: string) => new AirlockError('policy_denied', m),
  notFound: (m = 'no such session') => new AirlockError('not_found', m),
  conflict: (m: string) => new AirlockError('conflict', m),
  pending: (m = 'the session still waits for approvals') => new AirlockError('approval_pending', m),
  gone: (m: string) => new AirlockError('gone', m),
  unavailable: (m: string, cause?: unknown) => new AirlockError('unavailable', m, { cause }),
  mediaType: (m: string) => new AirlockError('unsupported_media_type', m),
  denied: (m: string) => new AirlockError('operation_denied', m),
  upstream: (m: string) => new AirlockError('upstream_error', m),
}

/** Thrown by stores when the backing service cannot be reached; always a 503, never a 500. */
export class StoreUnavailableError extends Error {
  /**
   * Redis never answered (a timeout, or the connection lost with the command in flight), so the
   * command may still have run; false when it answered with an error or was never sent.
   */
  readonly unanswered: boolean
  constructor(message: string, cause?: unknown, unanswered = false) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'StoreUnavailableError'
    this.unanswered = unanswered
  }
}

/** Whether `e`, or an error it was caused by, is a store command that may have run unanswered. */
export function unanswered(e: unknown): boolean {
  for (let c = e; c instanceof Error; c = c.cause)
    if (c instanceof StoreUnavailableError && c.unanswered) return true
  return false
}

/** A config file problem: `path` is like `policies[2].approvals`. */
export class ConfigError extends Error {
  readonly problems: { path: string; message: string }[]
  constructor(problems: { path: string; message: string }[]) {
    super(problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
  }
}
