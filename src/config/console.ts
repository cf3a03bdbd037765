// The `console` section: the web console at /console. People sign in with OIDC (authorization code
// with PKCE) or, where `api_key_login` allows it (the dev broker), with their API key. The OIDC
// client secret stays a reference and is resolved when a sign-in needs it, so a rotated secret
// (env:, file: or vault:) applies without a restart.
import { Type, type Static } from '@sinclair/typebox'
import { DURATION_HINT, DURATION_PATTERN, formatDuration } from './duration.js'
import { LITERAL_SECRET, SECRET_REF_PATTERN, resolveRef, type ResolveOptions } from './secrets.js'
import type { ConsoleConfig, HumanConfig } from './types.js'

const text = (maxLength: number) =>
  Type.String({
    minLength: 1,
    maxLength,
    errorMessage: `expected a non-empty string of at most ${maxLength} characters`,
  })
const Duration = Type.String({ pattern: DURATION_PATTERN, errorMessage: DURATION_HINT })
const bool = () => Type.Boolean({ errorMessage: 'expected true or false' })

export const ConsoleSchema = Type.Object(
  {
    oidc: Type.Optional(
      Type.Object(
        {
          issuer: text(2048),
          client_id: text(256),
          client_secret: Type.String({ pattern: SECRET_REF_PATTERN, errorMessage: LITERAL_SECRET }),
          scopes: Type.Optional(
            Type.Array(Type.String({ pattern: '^[\\x21-\\x7e]{1,64}$' }), { maxItems: 16 }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    api_key_login: Type.Optional(bool()),
    idle_timeout: Type.Optional(Duration),
    absolute_timeout: Type.Optional(Duration),
  },
  { additionalProperties: false },
)

/** `email` and `oidc_subject` of a human: what a console sign-in is matched on. */
export const HUMAN_CONSOLE_FIELDS = {
  email: Type.Optional(
    Type.String({ pattern: '^[^\\s@]{1,128}@[^\\s@]{1,255}$', errorMessage: 'expected an email address' }),
  ),
  oidc_subject: Type.Optional(text(255)),
}

export const CONSOLE_DEFAULTS = { idleTimeout: '30m', absoluteTimeout: '12h', scopes: ['openid', 'email'] }

/** An `http:` issuer only on loopback: its keys could otherwise be swapped in transit. */
export function isLoopbackHttpOrHttps(s: string): boolean {
  let u: URL
  try {
    u = new URL(s)
  } catch {
    return false
  }
  if (u.protocol === 'https:') return true
  return u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname)
}

interface ConsoleContext {
  opts: ResolveOptions
  report: (path: string, message: string) => void
  duration: (path: string, value: string) => number
}

export function parseConsole(
  raw: Static<typeof ConsoleSchema> | null,
  ctx: ConsoleContext,
): ConsoleConfig | null {
  if (raw === null) return null
  const { report } = ctx
  let oidc: ConsoleConfig['oidc'] = null
  if (raw.oidc) {
    const o = raw.oidc
    if (!isLoopbackHttpOrHttps(o.issuer))
      report('console.oidc.issuer', 'expected an https:// URL (http:// only for localhost)')
    // env: and file: are checked now (a typo fails the load); vault: when the vault is open.
    if (!o.client_secret.startsWith('vault:')) {
      try {
        resolveRef(o.client_secret, ctx.opts)
      } catch (e) {
        report('console.oidc.client_secret', (e as Error).message)
      }
    }
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
  if (absoluteTimeoutMs > 7 * 86_400_000) report('console.absolute_timeout', 'must be at most 7d')
  if (idleTimeoutMs > absoluteTimeoutMs && absoluteTimeoutMs > 0)
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
  report: (path: string, message: string) => void,
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
