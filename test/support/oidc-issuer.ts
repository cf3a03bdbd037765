// A real OpenID Provider (oidc-provider) on localhost for console sign-in tests: discovery, the
// authorization endpoint with its development login form (any login, any password: the login
// becomes the subject), the token endpoint with client_secret_basic and PKCE, and ID tokens
// carrying `email` = `<login>@example.com`. Consent is granted without a prompt. `signIn` walks
// the provider's pages over plain HTTP (no browser) up to the redirect back to the relying party.
import { createServer, type Server } from 'node:http'
import Provider from 'oidc-provider'
import { freePort } from './redis-server.js'

export interface OidcIssuer {
  /** http://localhost:<port>: another site than the broker's 127.0.0.1, as a real provider is. */
  url: string
  clientId: string
  clientSecret: string
  /**
   * Follows `authorizeUrl` at the provider as a browser would, signing in as `login`, and returns
   * the URL the provider sends the browser back to (the redirect URI with code and state).
   */
  signIn(authorizeUrl: string, login: string): Promise<URL>
  /** Ends the issuer's open connections and stops it. */
  close(): Promise<void>
}

export async function startOidcIssuer(o: { redirectUri: string; authMethod?: string }): Promise<OidcIssuer> {
  const port = await freePort()
  const url = `http://localhost:${port}`
  const clientId = 'airlock-console'
  const clientSecret = 'console-test-secret-0123456789abcdef'
  const provider: Provider = new Provider(url, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [o.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: o.authMethod ?? 'client_secret_basic',
      },
    ],
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        claims: async () => ({ sub, email: `${sub}@example.com`, email_verified: true }),
      }
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    // Scope claims in the ID token itself (as most providers put email there).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    cookies: { keys: ['oidc-issuer-test-cookie-key'] },
    ttl: {
      Session: 600,
      Interaction: 600,
      Grant: 600,
      AccessToken: 600,
      IdToken: 600,
      AuthorizationCode: 60,
    },
    features: { devInteractions: { enabled: true } },
    // First-party client: no consent screen.
    async loadExistingGrant(ctx): Promise<unknown> {
      const grant: { addOIDCScope(s: string): void; save(): Promise<string> } = new provider.Grant({
        accountId: ctx.oidc.session.accountId,
        clientId: ctx.oidc.client.clientId,
      })
      grant.addOIDCScope('openid email')
      await grant.save()
      return grant
    },
  })
  const server: Server = createServer(provider.callback())
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    url,
    clientId,
    clientSecret,
    signIn: (authorizeUrl, login) => walkSignIn(url, o.redirectUri, authorizeUrl, login),
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The provider's own pages, followed by hand: its cookies kept, the dev login form posted. */
async function walkSignIn(issuer: string, redirectUri: string, authorizeUrl: string, login: string) {
  const jar = new Map<string, string>()
  let next = new URL(authorizeUrl)
  let form: URLSearchParams | null = null
  for (let hop = 0; hop < 10; hop++) {
    const res = await fetch(next, {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: {
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(form && { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      ...(form && { body: form.toString() }),
    })
    await res.arrayBuffer()
    for (const c of res.headers.getSetCookie()) {
      const [pair = ''] = c.split(';')
      const i = pair.indexOf('=')
      jar.set(pair.slice(0, i), pair.slice(i + 1))
    }
    const location = res.headers.get('location')
    if (!location)
      throw new Error(`the provider answered ${res.status} at ${next.pathname} without a redirect`)
    next = new URL(location, issuer)
    if (next.href.startsWith(`${redirectUri}?`)) return next
    // The login prompt: its page's form posts to the same path.
    form = next.pathname.startsWith('/interaction/')
      ? new URLSearchParams({ prompt: 'login', login, password: 'any' })
      : null
  }
  throw new Error('the provider did not send the browser back within 10 redirects')
}
