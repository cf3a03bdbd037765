// The agent side of a session, shared by `request`, `exec` and `credential-process`: ask, wait
// for approvals (with a live line for people), claim the grant, and end the session.
import { call, type ClientConfig } from './client.js'
import { CliError, EXIT } from './exit.js'
import { timeLeft } from './output.js'
import type { PublicSession as Session } from '../sessions/model.js'
import type { Grant } from '../sessions/service.js'

// The wire shapes the API answers with (src/schemas), read as the server types them.
export type { PublicSession as Session } from '../sessions/model.js'
export type { Grant } from '../sessions/service.js'

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

/** Holds until the session leaves pending_approval; Ctrl-C withdraws the request. */
export async function waitForApproval(c: ClientConfig, first: Session, live: boolean): Promise<Session> {
  let s = first
  const withdraw = () => {
    if (live) process.stderr.write('\n')
    call(c, 'DELETE', `/v1/sessions/${s.id}`).then(
      () => {
        process.stderr.write(`airlock: request ${s.id} withdrawn\n`)
        process.exit(130)
      },
      () => process.exit(130),
    )
  }
  process.once('SIGINT', withdraw)
  try {
    while (s.status === 'pending_approval') {
      if (live) process.stderr.write(`\r\u001b[2K${waitingLine(s)}`)
      const left = Math.ceil((Date.parse(s.expires_at) - Date.now()) / 1000)
      const wait = Math.max(1, Math.min(60, left, live ? 10 : 60))
      s = await call<Session>(c, 'GET', `/v1/sessions/${s.id}?wait=${wait}`)
    }
  } finally {
    process.off('SIGINT', withdraw)
    if (live) process.stderr.write('\r\u001b[2K')
  }
  return s
}

/** Requests a session and returns its grant, waiting for approvals and claiming when needed. */
export async function obtain(c: ClientConfig, args: RequestArgs, opts: { live: boolean }) {
  const r = await call<{ session: Session; grant?: Grant }>(c, 'POST', '/v1/sessions', requestBody(args))
  if (r.grant) return { session: r.session, grant: r.grant }
  const s = await waitForApproval(c, r.session, opts.live)
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

/** The child's environment additions for a grant (AWS and PostgreSQL variables by credential shape). */
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
  return env
}
