// The `console` section (optional): the web console at /console. People sign in with OIDC
// (authorization code with PKCE) or, where `api_key_login` allows it (the dev broker), with their
// API key. The OIDC client secret stays a reference, resolved when a sign-in needs it, so a rotated
// secret (env:, file: or vault:) applies without a restart; env: and file: are checked at load.
import { formatDuration } from '../../validation/duration.js'
import { Duration, SecretRef, bool, list, opt, pattern, strict, text } from '../../validation/schema.js'
import { isHttpUrl, isHttpsOrLoopback, isIssuerUrl, type BuildContext, type Report } from '../context.js'
import { resolveRef } from '../secrets.js'
import type { ConsoleConfig, HumanConfig } from '../types.js'

export const ConsoleSchema = strict({
  oidc: opt(
    strict({
      issuer: text(2048),
      client_id: text(256),
      client_secret: SecretRef,
      scopes: opt(list(pattern('^[\\x21-\\x7e]{1,64}$', 'expected a scope name'), 1)),
    }),
  ),
  api_key_login: opt(bool()),
  idle_timeout: opt(Duration),
  absolute_timeout: opt(Duration),
})

/** A human's `email` and `oidc_subject`: what a console sign-in is matched on. */
export const HUMAN_CONSOLE_FIELDS = {
  email: opt(pattern('^[^\\s@]{1,128}@[^\\s@]{1,255}$', 'expected an email address')),
  oidc_subject: opt(text(255)),
}

const CONSOLE_DEFAULTS = { idleTimeout: '30m', absoluteTimeout: '12h', scopes: ['openid', 'email'] }
const MAX_ABSOLUTE_MS = 7 * 86_400_000

/** `publicUrl`: server.public_url, what browsers use (checked here: it carries the cookies). */
export function buildConsole(ctx: BuildContext, publicUrl: string): ConsoleConfig | null {
  if (ctx.raw['console'] === undefined) return null
  const raw = ctx.section(ConsoleSchema, 'console')
  if (!raw) return null
  const { report } = ctx
  // A URL that is not http(s) at all is reported by the server section already.
  if (isHttpUrl(publicUrl) && !isHttpsOrLoopback(publicUrl))
    report(
      'server.public_url',
      'the console is on, so expected an https:// URL (http:// only for localhost, 127.0.0.1 or [::1]): ' +
        'over http the session cookie cannot be Secure and API-key sign-ins would travel in clear',
    )
  let oidc: ConsoleConfig['oidc'] = null
  if (raw.oidc) {
    const o = raw.oidc
    if (!isIssuerUrl(o.issuer))
      report('console.oidc.issuer', 'expected an https:// URL (http:// only for localhost)')
    if (!o.client_secret.startsWith('vault:'))
      ctx.secret('console.oidc.client_secret', () => resolveRef(o.client_secret, ctx.opts))
    const scopes = o.scopes ?? CONSOLE_DEFAULTS.scopes
    if (!scopes.includes('openid')) report('console.oidc.scopes', "must include 'openid'")
    oidc = {
      issuer: o.issuer.replace(/\/$/, ''),
      clientId: o.client_id,
      clientSecretRef: o.client_secret,
      scopes,
    }
  }
  const idleTimeoutMs = ctx.duration('console.idle_timeout', raw.idle_timeout ?? CONSOLE_DEFAULTS.idleTimeout)
  const absoluteTimeoutMs = ctx.duration(
    'console.absolute_timeout',
    raw.absolute_timeout ?? CONSOLE_DEFAULTS.absoluteTimeout,
  )
  if (idleTimeoutMs > 0 && idleTimeoutMs < 1000) report('console.idle_timeout', 'expected at least 1s')
  if (absoluteTimeoutMs > MAX_ABSOLUTE_MS)
    report('console.absolute_timeout', `must be at most ${formatDuration(MAX_ABSOLUTE_MS)}`)
  if (absoluteTimeoutMs > 0 && idleTimeoutMs > absoluteTimeoutMs)
    report(
      'console.idle_timeout',
      `must not exceed console.absolute_timeout (${formatDuration(absoluteTimeoutMs)})`,
    )
  const apiKeyLogin = raw.api_key_login ?? false
  if (!oidc && !apiKeyLogin)
    report('console', 'nobody could sign in: configure console.oidc, or api_key_login: true')
  return { oidc, apiKeyLogin, idleTimeoutMs, absoluteTimeoutMs }
}

/** Emails (compared without case) and OIDC subjects must each name one human. */
export function checkHumanIdentities(
  humans: { h: Pick<HumanConfig, 'email' | 'oidcSubject'>; i: number }[],
  report: Report,
): void {
  for (const [field, key, fold] of [
    ['email', 'email', true],
    ['oidc_subject', 'oidcSubject', false],
  ] as const) {
    const seen = new Map<string, number>()
    for (const { h, i } of humans) {
      const v = h[key]
      if (v === null) continue
      const k = fold ? v.toLowerCase() : v
      const other = seen.get(k)
      if (other === undefined) seen.set(k, i)
      else report(`humans[${i}].${field}`, `duplicate ${field} (also humans[${other}])`)
    }
  }
}
