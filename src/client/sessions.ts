// The agent side of a session, shared by `request`, `exec` and `credential-process`: ask, wait
// for approvals (with a live line for people), claim the grant, and end the session.
import { constants } from 'node:os'
import { call, type ClientConfig } from './client.js'
import { CliError, EXIT } from './exit.js'
import type { PublicSession as Session } from '../domain/index.js'
import type { Grant } from '../domain/grant.js'

// The wire shapes the API answers with (src/schemas), read as the server types them.
export type { PublicSession as Session } from '../domain/index.js'
export type { Grant } from '../domain/grant.js'

export interface RequestArgs {
  env: string
  class: string
  provider: string
  task: string
  description?: string
  justification?: string
  ttl?: number
  onBehalfOf?: string
  /** The exact gateway call to approve, read from --action-file. */
  action?: { method: string; path: string; body?: unknown }
}

export const requestBody = (a: RequestArgs) => ({
  environment: a.env,
  operation_class: a.class,
  provider: a.provider,
  task: { id: a.task, ...(a.description && { description: a.description }) },
  ...(a.justification && { justification: a.justification }),
  ...(a.ttl !== undefined && { ttl_seconds: a.ttl }),
  ...(a.onBehalfOf && { on_behalf_of: a.onBehalfOf }),
  ...(a.action && { action: a.action }),
})

export const waitingLine = (s: Session, now = Date.now()) => {
  const by = s.approvals.map((a) => a.by).join(', ')
  return `waiting for approval: ${s.approvals.length} of ${s.approvals_required}${by ? ` (${by})` : ''} - ${timeLeft(s.expires_at, now)}`
}

/**
 * How a wait shows itself: `live` rewrites one line on a terminal; `lines` prints one plain line
 * when the wait starts and one per change (for logs and agents, where stderr is not a terminal).
 */
export type Progress = 'live' | 'lines' | 'quiet'

export const progressFor = (json: boolean | undefined): Progress =>
  process.stderr.isTTY === true && !json ? 'live' : 'lines'

const note = (line: string) => void process.stderr.write(`airlock: ${line}\n`)

/** The plain line that says a request waits, and what unblocks it. */
export const startLine = (s: Session) =>
  `${s.id} waits for ${s.approvals_required} approval${s.approvals_required === 1 ? '' : 's'} ` +
  `(${s.environment} / ${s.operation_class} / ${s.provider}) until ${s.expires_at}; ` +
  `an approver runs: airlock approve ${s.id}`

/** The plain line for a change seen while waiting, or null when nothing a person cares about changed. */
export function changeLine(before: Session, after: Session): string | null {
  if (after.status !== before.status) {
    const by = after.status === 'denied' && after.denied_by ? ` by ${after.denied_by}` : ''
    return `${after.id} is ${after.status}${by} (${after.approvals.length} of ${after.approvals_required} approvals)`
  }
  if (after.approvals.length === before.approvals.length) return null
  const last = after.approvals[after.approvals.length - 1]
  return `${after.id} approved by ${last?.by ?? 'an approver'} (${after.approvals.length} of ${after.approvals_required}); waiting`
}

/** A wait that was given up: the request was withdrawn (its session ended, if the broker answered). */
export class Withdrawn extends Error {
  constructor(
    readonly sessionId: string,
    readonly ended: boolean,
  ) {
    super(`request ${sessionId} withdrawn`)
  }
}

export interface WaitOptions {
  /**
   * Aborting withdraws the request: the session is ended and the wait rejects with `Withdrawn`
   * (with `withdraw: false`, it rejects with the signal's reason and the request stands).
   */
  signal?: AbortSignal
  withdraw?: boolean
  /** Stop waiting at this time (epoch ms) and return the session as it then is. */
  until?: number
  /**
   * Longest single long-poll in seconds. The broker answers a long-poll when the status changes;
   * shorter polls also see each approval as it arrives.
   */
  pollSeconds?: number
  /** Called with the session each time it is read, the first one included. */
  onUpdate?: (s: Session) => void
}

/** Holds until the session leaves pending_approval (or `until` passes, or the signal aborts). */
export async function awaitDecision(c: ClientConfig, first: Session, o: WaitOptions = {}): Promise<Session> {
  let s = first
  o.onUpdate?.(s)
  try {
    while (s.status === 'pending_approval') {
      const now = Date.now()
      if (o.until !== undefined && o.until <= now) break
      const left = Math.ceil((Math.min(Date.parse(s.expires_at), o.until ?? Infinity) - now) / 1000)
      const wait = Math.max(1, Math.min(60, left, o.pollSeconds ?? 60))
      s = await call<Session>(c, 'GET', `/v1/sessions/${s.id}?wait=${wait}`, undefined, {
        ...(o.signal && { signal: o.signal }),
      })
      o.onUpdate?.(s)
    }
  } catch (e) {
    if (o.signal?.aborted && o.withdraw !== false) throw new Withdrawn(s.id, await endSession(c, s.id))
    throw e
  }
  return s
}

/** The signals that withdraw a wait; `exec` catches them too, so they would not end the process. */
const WITHDRAW_ON = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const

/**
 * `awaitDecision` for people: a live line on a terminal, or a line per change; Ctrl-C (or SIGTERM,
 * SIGHUP, SIGQUIT) withdraws and exits 128 + the signal's number.
 */
export async function waitForApproval(c: ClientConfig, first: Session, progress: Progress): Promise<Session> {
  const live = progress === 'live'
  const ctl = new AbortController()
  let by: NodeJS.Signals = 'SIGINT'
  const withdraws = WITHDRAW_ON.map((sig) => {
    const h = () => {
      by = sig
      ctl.abort()
    }
    process.once(sig, h)
    return [sig, h] as const
  })
  if (progress === 'lines') note(startLine(first))
  let before = first
  try {
    return await awaitDecision(c, first, {
      signal: ctl.signal,
      // The broker answers early only when the status changes: an approval that leaves the request
      // pending is seen at the next poll, so the line-per-change mode polls more often.
      pollSeconds: live ? 10 : progress === 'lines' ? 3 : 60,
      onUpdate: (s) => {
        if (live && s.status === 'pending_approval') process.stderr.write(`\r\u001b[2K${waitingLine(s)}`)
        const changed = progress === 'lines' ? changeLine(before, s) : null
        if (changed) note(changed)
        before = s
      },
    })
  } catch (e) {
    if (!(e instanceof Withdrawn)) throw e
    if (live) process.stderr.write('\n')
    if (e.ended) process.stderr.write(`airlock: ${e.message}\n`)
    return process.exit(128 + (constants.signals[by] ?? 2))
  } finally {
    for (const [sig, h] of withdraws) process.off(sig, h)
    if (live) process.stderr.write('\r\u001b[2K')
  }
}

/** A 201 or 202 answer to a request; `ttl_clamped` when the asked lifetime was above the policy's. */
export interface RequestAnswer {
  session: Session
  grant?: Grant
  ttl_clamped?: { requested_seconds: number; ttl_seconds: number; rule: string | null }
}

/** The one line that tells a person the TTL they asked for was lowered. */
export const clampLine = (r: RequestAnswer): string | null => {
  const t = r.ttl_clamped
  if (!t) return null
  const by = t.rule ? `the rule "${t.rule}"` : 'tokens.max_ttl'
  return `ttl ${t.requested_seconds}s is above the ${t.ttl_seconds}s that ${by} allows, so the session gets ${t.ttl_seconds}s`
}

/** Requests a session and returns its grant, waiting for approvals and claiming when needed. */
export async function obtain(c: ClientConfig, args: RequestArgs, opts: { progress: Progress }) {
  const r = await call<RequestAnswer>(c, 'POST', '/v1/sessions', requestBody(args))
  const clamped = clampLine(r)
  if (clamped && opts.progress !== 'quiet') note(clamped)
  if (r.grant) return { session: r.session, grant: r.grant }
  const s = await waitForApproval(c, r.session, opts.progress)
  if (s.status !== 'approved') {
    const why = s.status === 'denied' ? `denied by ${s.denied_by ?? 'an approver'}` : s.status
    throw new CliError(`request ${s.id} was ${why}`, EXIT.denied)
  }
  return call<{ session: Session; grant: Grant }>(c, 'POST', `/v1/sessions/${s.id}/grant`)
}

/** Ends a session, retrying briefly: an exec'd command's credentials must not outlive it. */
export async function endSession(c: ClientConfig, id: string): Promise<boolean> {
  for (let i = 0; i < 3; i++) {
    try {
      await call(c, 'DELETE', `/v1/sessions/${id}`)
      return true
    } catch {
      await new Promise((r) => setTimeout(r, 200 * (i + 1)))
    }
  }
  return false
}

/**
 * What `airlock request` prints of a grant: the token, then the provider's credentials as the same
 * variables `exec` sets (a claimed grant cannot be claimed again, so nothing may be left out).
 */
export const grantLines = (grant: Grant): string[] => [
  `  token ${grant.token}`,
  ...Object.entries(credentialEnv(grant))
    .filter(([k]) => k !== 'AIRLOCK_SESSION_TOKEN')
    .map(([k, v]) => `  ${k}=${v}`),
]

/** The child's environment additions for a grant (AWS, PostgreSQL, GitHub variables by credential shape). */
export function credentialEnv(grant: Grant): Record<string, string> {
  const c = grant.credentials
  const env: Record<string, string> = { AIRLOCK_SESSION_TOKEN: grant.token }
  const str = (k: string) => (typeof c[k] === 'string' || typeof c[k] === 'number' ? String(c[k]) : undefined)
  if (str('access_key_id')) {
    Object.assign(env, {
      AWS_ACCESS_KEY_ID: str('access_key_id'),
      AWS_SECRET_ACCESS_KEY: str('secret_access_key') ?? '',
      AWS_SESSION_TOKEN: str('session_token') ?? '',
      ...(str('region') && { AWS_REGION: str('region'), AWS_DEFAULT_REGION: str('region') }),
    })
  }
  // A gateway grant: the URL to call with the session token (never the upstream's token).
  if (str('url') && str('token')) env['AIRLOCK_GATEWAY_URL'] = str('url') as string
  if (str('username') && str('host')) {
    Object.assign(env, {
      PGHOST: str('host'),
      PGPORT: str('port') ?? '5432',
      PGDATABASE: str('database') ?? '',
      PGUSER: str('username'),
      PGPASSWORD: str('password') ?? '',
      ...(str('url') && { DATABASE_URL: str('url') }),
    })
  }
  // GitHub: gh and most tools read GH_TOKEN or GITHUB_TOKEN; GITHUB_SERVER_URL and GITHUB_API_URL
  // (as in GitHub Actions) tell tools and `airlock git-credential` which server the token is for.
  if (str('token') && Array.isArray(c['repositories'])) {
    const token = str('token') as string
    Object.assign(env, { GITHUB_TOKEN: token, GH_TOKEN: token })
    if (str('api_url')) env['GITHUB_API_URL'] = str('api_url') as string
    const server = str('server_url')
    if (server) {
      env['GITHUB_SERVER_URL'] = server
      const host = new URL(server).host
      if (host !== 'github.com') Object.assign(env, { GH_HOST: host, GH_ENTERPRISE_TOKEN: token })
    }
  }
  return env
}

/** "4m left", "1h 5m left", "expired". */
export function timeLeft(untilIso: string, now = Date.now()): string {
  const s = Math.floor((Date.parse(untilIso) - now) / 1000)
  if (s <= 0) return 'expired'
  if (s < 60) return `${s}s left`
  const m = Math.floor(s / 60)
  return m < 60 ? `${m}m left` : `${Math.floor(m / 60)}h ${m % 60}m left`
}
