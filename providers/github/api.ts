// GitHub's REST API as the App: an App JWT (RS256, signed with the App's private key) for the
// /app routes, the installation token itself for DELETE /installation/token. The private key is
// read from its secret reference when first needed and again after it rotates; it never leaves here.
import { createPrivateKey, type KeyObject } from 'node:crypto'
import { SignJWT } from 'jose'
import { AirlockError } from '../../src/errors.js'
import { scrub } from '../../src/scrub.js'
import type { SecretSource } from '../types.js'
import type { GithubProviderConfig } from './config.js'

const API_VERSION = '2022-11-28'
const TIMEOUT_MS = 10_000
/** Attempts per call when GitHub asks us to slow down (or an idempotent call meets a 5xx). */
const MAX_ATTEMPTS = 4
/** GitHub: "wait at least one minute" after a secondary rate limit that names no time. */
const SECONDARY_DEFAULT_MS = 60_000
/** An App JWT is reused this long (GitHub accepts it for ten minutes). */
const JWT_REUSE_MS = 60_000
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'])

/** A refusal or failure from GitHub; `status` 0 when no answer came. */
export class GithubError extends AirlockError {
  constructor(
    readonly status: number,
    message: string,
    readonly rateLimited = false,
  ) {
    super('unavailable', message)
    this.name = 'GithubError'
  }
}

/** The App's private key could not be read or parsed: nothing was sent to GitHub. */
export class AppKeyError extends AirlockError {
  constructor(message: string) {
    super('unavailable', message)
    this.name = 'AppKeyError'
  }
}

export interface InstallationToken {
  token: string
  expires_at: string
  permissions?: Record<string, string>
  repository_selection?: 'all' | 'selected'
  repositories?: { name: string }[]
}

export interface GithubApi {
  /** POST /app/installations/{id}/access_tokens. Never retried after a request that may have landed. */
  createToken(
    installationId: number,
    body: { repositories: string[]; permissions: Record<string, string> },
  ): Promise<InstallationToken>
  /** DELETE /installation/token: 'revoked', or 'gone' when GitHub no longer knows the token (401). */
  revokeToken(token: string): Promise<'revoked' | 'gone'>
  /** GET /app/installations/{id}: the installation exists and the App may act on it. */
  installation(installationId: number): Promise<void>
  /** The key's secret changed: read it again on next use. */
  reset(): void
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** How long GitHub asks us to wait, or null when the answer is not a rate limit. */
export function rateLimitWait(status: number, headers: Headers, message: string, now: number): number | null {
  if (status !== 403 && status !== 429) return null
  const after = headers.get('retry-after')
  if (after !== null && /^\d+$/.test(after.trim())) return Number(after) * 1000
  if (headers.get('x-ratelimit-remaining') === '0') {
    const reset = Number(headers.get('x-ratelimit-reset'))
    return Number.isFinite(reset) ? Math.max(0, reset * 1000 - now) : SECONDARY_DEFAULT_MS
  }
  if (status === 429 || /rate limit/i.test(message)) return SECONDARY_DEFAULT_MS
  return null
}

export function createGithubApi(
  config: GithubProviderConfig,
  deps: { secrets: SecretSource; now: () => number; onRetry?: (what: string, waitMs: number) => void },
): GithubApi {
  let key: Promise<KeyObject> | null = null
  let jwt: { value: string; until: number } | null = null

  const appKey = () =>
    (key ??= (async () => {
      const ref = config.privateKeyRef
      const pem = await deps.secrets.resolve(ref).catch((e: unknown) => {
        throw new AppKeyError(`the GitHub App key ${ref} cannot be read: ${scrub((e as Error).message)}`)
      })
      let k: KeyObject
      try {
        k = createPrivateKey({ key: pem, format: 'pem' })
      } catch {
        throw new AppKeyError(`the GitHub App key ${ref} is not a PEM private key (PKCS#1 or PKCS#8)`)
      }
      if (k.asymmetricKeyType !== 'rsa')
        throw new AppKeyError(`the GitHub App key ${ref} is not an RSA key (GitHub Apps sign with RS256)`)
      return k
    })().catch((e: unknown) => {
      key = null // a later call tries again (the vault may be back, the secret fixed)
      throw e
    }))

  const appJwt = async (): Promise<string> => {
    const now = deps.now()
    if (jwt && jwt.until > now) return jwt.value
    const k = await appKey()
    const iat = Math.floor(now / 1000) - 60 // GitHub's clock may be behind ours
    const value = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuedAt(iat)
      .setExpirationTime(iat + 600) // GitHub's maximum: ten minutes
      .setIssuer(config.appId)
      .sign(k)
    jwt = { value, until: now + JWT_REUSE_MS }
    return value
  }

  async function send(
    method: string,
    path: string,
    auth: () => Promise<string>,
    opts: { body?: unknown; idempotent: boolean },
  ): Promise<{ status: number; json: unknown }> {
    const deadline = Date.now() + config.rateLimitWaitMs
    for (let attempt = 1; ; attempt++) {
      let res: Response
      try {
        res = await fetch(`${config.apiUrl}${path}`, {
          method,
          headers: {
            accept: 'application/vnd.github+json',
            authorization: `Bearer ${await auth()}`,
            'user-agent': 'airlock',
            'x-github-api-version': API_VERSION,
            ...(opts.body !== undefined && { 'content-type': 'application/json' }),
          },
          ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
          signal: AbortSignal.timeout(TIMEOUT_MS),
        })
      } catch (e) {
        if (e instanceof AppKeyError) throw e
        const code = String((e as { cause?: { code?: unknown } }).cause?.code ?? (e as Error).name)
        // A POST that may have reached GitHub is not sent again: it could mint a second token.
        if (attempt < MAX_ATTEMPTS && (opts.idempotent || NOT_SENT.has(code))) {
          await sleep(100 * 2 ** attempt * Math.random())
          continue
        }
        throw new GithubError(0, `GitHub at ${config.apiUrl} did not answer ${method} ${path} (${code})`)
      }
      const text = await res.text()
      let json: unknown = null
      try {
        json = text ? JSON.parse(text) : null
      } catch {
        json = null
      }
      if (res.ok) return { status: res.status, json }
      const message = scrub(String((json as { message?: unknown } | null)?.message ?? res.statusText))
      const wait = rateLimitWait(res.status, res.headers, message, Date.now())
      if (wait !== null) {
        if (attempt < MAX_ATTEMPTS && Date.now() + wait <= deadline) {
          deps.onRetry?.(`${method} ${path}: ${res.status} rate limited`, wait)
          await sleep(wait)
          continue
        }
        throw new GithubError(
          res.status,
          `GitHub's rate limit holds (${res.status} ${message}); try again in ${Math.ceil(wait / 1000)}s`,
          true,
        )
      }
      if (opts.idempotent && res.status >= 500 && attempt < MAX_ATTEMPTS) {
        await sleep(100 * 2 ** attempt * Math.random())
        continue
      }
      throw new GithubError(res.status, `${res.status} ${message}`)
    }
  }

  return {
    async createToken(installationId, body) {
      const r = await send('POST', `/app/installations/${installationId}/access_tokens`, appJwt, {
        body,
        idempotent: false,
      })
      const t = r.json as InstallationToken | null
      if (
        typeof t?.token !== 'string' ||
        typeof t.expires_at !== 'string' ||
        Number.isNaN(Date.parse(t.expires_at))
      )
        throw new GithubError(r.status, 'GitHub answered without a token and its expiry')
      return t
    },
    async revokeToken(token) {
      try {
        await send('DELETE', '/installation/token', async () => token, { idempotent: true })
        return 'revoked'
      } catch (e) {
        if (e instanceof GithubError && e.status === 401) return 'gone' // expired or revoked already
        throw e
      }
    },
    async installation(installationId) {
      await send('GET', `/app/installations/${installationId}`, appJwt, { idempotent: true })
    },
    reset() {
      key = null
      jwt = null
    },
  }
}
