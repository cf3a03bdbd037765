// The console's OIDC relying party: discovery, the authorization request (code flow with PKCE
// S256, state and nonce), the code exchange (client_secret_basic or client_secret_post, as the
// provider's discovery allows) and the ID token checks of OIDC Core 3.1.3.7, with jose.
import { createHash } from 'node:crypto'
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose'
import type { Clock } from '../clock.js'
import { isIssuerUrl } from '../config/context.js'
import type { ConsoleConfig } from '../config/types.js'

type OidcConfig = NonNullable<ConsoleConfig['oidc']>

interface Discovery {
  issuer: string
  authorization_endpoint: string
  token_endpoint: string
  jwks_uri: string
  token_endpoint_auth_methods_supported?: string[]
  id_token_signing_alg_values_supported?: string[]
  code_challenge_methods_supported?: string[]
}

/** The provider cannot be reached or answers nonsense: the person can only try again later. */
export class ProviderUnavailable extends Error {}
/** The sign-in itself failed (refused code, bad ID token): the person starts again. */
export class SignInFailed extends Error {}

/** Signature algorithms an ID token may use: asymmetric only (never none, never a shared secret). */
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
const TIMEOUT_MS = 5000
const DISCOVERY_TTL_MS = 3_600_000

export interface Identity {
  sub: string
  email: string | null
  emailVerified: boolean | null
}

const pkceChallenge = (verifier: string): string => createHash('sha256').update(verifier).digest('base64url')

export function oidcClient(cfg: OidcConfig, deps: { clock: Clock; secret: () => Promise<string> }) {
  let cached: { at: number; doc: Promise<Discovery> } | null = null
  const jwks = new Map<string, JWTVerifyGetKey>()

  const fetchJson = async (url: string, init?: RequestInit): Promise<{ status: number; body: unknown }> => {
    let res: Response
    let text: string
    try {
      res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) })
      // The body too: a provider may send its headers, then stall or break off.
      text = await res.text()
    } catch (e) {
      throw new ProviderUnavailable(`cannot reach ${new URL(url).origin} (${(e as Error).message})`)
    }
    try {
      return { status: res.status, body: JSON.parse(text) as unknown }
    } catch {
      throw new ProviderUnavailable(`${new URL(url).origin} answered ${res.status} without JSON`)
    }
  }

  const load = async (): Promise<Discovery> => {
    const { status, body } = await fetchJson(`${cfg.issuer}/.well-known/openid-configuration`)
    if (status !== 200) throw new ProviderUnavailable(`discovery answered ${status}`)
    if (typeof body !== 'object' || body === null)
      throw new ProviderUnavailable('discovery is not a JSON object')
    const d = body as Partial<Discovery>
    // OIDC Discovery 4.3: the document's issuer is exactly the one configured.
    if (d.issuer !== cfg.issuer && d.issuer !== `${cfg.issuer}/`)
      throw new ProviderUnavailable(`discovery names issuer ${String(d.issuer)}, not ${cfg.issuer}`)
    // https (http only on this machine, as for the issuer): the client secret and ID token go there.
    for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
      const u = d[k]
      if (typeof u !== 'string' || !isIssuerUrl(u))
        throw new ProviderUnavailable(`discovery has no valid ${k}`)
    }
    return d as Discovery
  }

  const discovery = (): Promise<Discovery> => {
    const now = deps.clock.now()
    if (!cached || now - cached.at > DISCOVERY_TTL_MS) {
      const doc = load()
      cached = { at: now, doc }
      // A failed discovery is tried again on the next sign-in, not remembered.
      doc.catch(() => {
        if (cached?.doc === doc) cached = null
      })
    }
    return cached.doc
  }

  /** client_secret_basic unless the provider only offers client_secret_post (Discovery's default is basic). */
  const authMethod = (d: Discovery): 'basic' | 'post' => {
    const offered = d.token_endpoint_auth_methods_supported ?? ['client_secret_basic']
    if (offered.includes('client_secret_basic')) return 'basic'
    if (offered.includes('client_secret_post')) return 'post'
    throw new ProviderUnavailable(
      `the provider offers neither client_secret_basic nor client_secret_post (it offers ${offered.join(', ')})`,
    )
  }

  const verifyIdToken = async (token: string, nonce: string, d?: Discovery): Promise<Identity> => {
    const doc = d ?? (await discovery())
    let keys = jwks.get(doc.jwks_uri)
    if (!keys) {
      keys = createRemoteJWKSet(new URL(doc.jwks_uri), { timeoutDuration: TIMEOUT_MS })
      jwks.set(doc.jwks_uri, keys)
    }
    const offered = doc.id_token_signing_alg_values_supported ?? ['RS256']
    const algorithms = ASYMMETRIC.filter((a) => offered.includes(a))
    if (algorithms.length === 0)
      throw new ProviderUnavailable('the provider signs ID tokens with no asymmetric algorithm')
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jwtVerify(token, keys, {
        issuer: doc.issuer,
        audience: cfg.clientId,
        algorithms,
        currentDate: new Date(deps.clock.now()),
        clockTolerance: 60,
        maxTokenAge: '10m',
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
      }))
    } catch (e) {
      const code = (e as { code?: string }).code ?? ''
      if (code === 'ERR_JWKS_TIMEOUT' || /fetch|network/i.test((e as Error).message))
        throw new ProviderUnavailable(`the provider's keys cannot be fetched (${(e as Error).message})`)
      throw new SignInFailed(`the ID token is not valid (${code || (e as Error).message})`)
    }
    // OIDC Core 3.1.3.7: several audiences need an azp naming this client.
    const aud = Array.isArray(payload['aud']) ? payload['aud'] : [payload['aud']]
    if ((aud.length > 1 || payload['azp'] !== undefined) && payload['azp'] !== cfg.clientId)
      throw new SignInFailed('the ID token was issued to another client (azp)')
    if (typeof payload['nonce'] !== 'string' || payload['nonce'] !== nonce)
      throw new SignInFailed('the ID token does not carry this sign-in’s nonce')
    const email = typeof payload['email'] === 'string' ? payload['email'] : null
    const verified = payload['email_verified']
    return {
      sub: String(payload['sub']),
      email,
      emailVerified:
        verified === true || verified === 'true'
          ? true
          : verified === false || verified === 'false'
            ? false
            : null,
    }
  }

  return {
    /** Where to send the browser. */
    async authorizationUrl(p: { state: string; nonce: string; verifier: string; redirectUri: string }) {
      const d = await discovery()
      if (d.code_challenge_methods_supported && !d.code_challenge_methods_supported.includes('S256'))
        throw new ProviderUnavailable('the provider does not support PKCE with S256')
      authMethod(d)
      const u = new URL(d.authorization_endpoint)
      const q = u.searchParams
      q.set('response_type', 'code')
      q.set('client_id', cfg.clientId)
      q.set('redirect_uri', p.redirectUri)
      q.set('scope', cfg.scopes.join(' '))
      q.set('state', p.state)
      q.set('nonce', p.nonce)
      q.set('code_challenge', pkceChallenge(p.verifier))
      q.set('code_challenge_method', 'S256')
      return u.toString()
    },

    /** Trades the code for tokens and returns the ID token's verified identity. */
    async exchange(p: {
      code: string
      verifier: string
      nonce: string
      redirectUri: string
    }): Promise<Identity> {
      const d = await discovery()
      const method = authMethod(d)
      // A rotated-away file, an unset variable or a sealed vault: the person can only retry later.
      const secret = await deps.secret().catch(() => {
        throw new ProviderUnavailable('the client secret (console.oidc.client_secret) cannot be read')
      })
      const form = new URLSearchParams({
        grant_type: 'authorization_code',
        code: p.code,
        redirect_uri: p.redirectUri,
        code_verifier: p.verifier,
      })
      const headers: Record<string, string> = {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      }
      if (method === 'basic') {
        // RFC 6749 2.3.1: each part form-urlencoded before Base64.
        const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
        headers['authorization'] =
          `Basic ${Buffer.from(`${enc(cfg.clientId)}:${enc(secret)}`).toString('base64')}`
      } else {
        form.set('client_id', cfg.clientId)
        form.set('client_secret', secret)
      }
      const { status, body } = await fetchJson(d.token_endpoint, {
        method: 'POST',
        headers,
        body: form.toString(),
      })
      const b = (body ?? {}) as { id_token?: unknown; error?: unknown }
      if (status >= 500) throw new ProviderUnavailable(`the token endpoint answered ${status}`)
      if (status !== 200) {
        const code = typeof b.error === 'string' && /^[\w.-]{1,64}$/.test(b.error) ? b.error : String(status)
        throw new SignInFailed(`the provider refused the sign-in code (${code})`)
      }
      if (typeof b.id_token !== 'string') throw new SignInFailed('the provider sent no ID token')
      return verifyIdToken(b.id_token, p.nonce, d)
    },
    verifyIdToken,
  }
}

export type OidcClient = ReturnType<typeof oidcClient>
