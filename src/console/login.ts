// Signing in and out. OIDC: GET /console/login/oidc stores a one-time state (nonce, PKCE verifier,
// and the hash of a browser-binding cookie) and sends the browser to the provider; the provider
// sends it back to /console/callback, where the code is exchanged, the ID token checked, and its
// `sub` or `email` matched to a human of the config. API keys: only with console.api_key_login.
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sha256Hex } from '../auth/apikeys.js'
import type { HumanConfig } from '../config/types.js'
import { AirlockError, err } from '../errors.js'
import { createSecretSource } from '../secrets/source.js'
import { seeOther, sendPage, type ConsoleApp, type ConsoleContext } from './context.js'
import { clearCookie, readCookie, setCookie } from './cookies.js'
import { html } from './html.js'
import { oidcClient, ProviderUnavailable, SignInFailed, type OidcClient } from './oidc.js'
import { matchHuman, newSecret, sameSecret, type OidcBinding } from './sessions.js'
import { attemptLimiter } from './attempts.js'

const LOGIN_TTL_MS = 10 * 60_000
/** Sign-in attempts one client address may make a minute (per broker process). */
const ATTEMPTS_PER_MINUTE = 30
const Secret = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' })
const page = { hide: true, response: { 200: Type.String({ description: 'An HTML page' }) } }

interface LoginState {
  nonce: string
  verifier: string
  /** SHA-256 of the binding cookie: the browser that started the sign-in must finish it. */
  binding: string
  issuer: string
  /**
   * SHA-256 of the session cookie the browser had when it started: the provider's redirect back
   * is a cross-site navigation, which does not carry the SameSite=Strict cookie to end it then.
   */
  previous?: string
}

export function registerLogin(app: ConsoleApp, ctx: ConsoleContext) {
  const { broker } = ctx
  const secrets = createSecretSource({
    baseDir: broker.runtime().config.baseDir,
    env: process.env,
    vault: broker.vault,
  })
  let client: { key: string; oidc: OidcClient } | null = null
  /** The OIDC client for the config in force (a reload may change it). */
  const oidc = (): OidcClient => {
    const o = ctx.config().oidc
    if (!o) throw err.notFound('single sign-on is not set up on this broker (console.oidc)')
    const key = JSON.stringify(o)
    if (client?.key !== key) {
      client = {
        key,
        oidc: oidcClient(o, { clock: broker.clock, secret: () => secrets.resolve(o.clientSecretRef) }),
      }
    }
    return client.oidc
  }
  const attempts = attemptLimiter(ATTEMPTS_PER_MINUTE, () => broker.clock.now())
  const limit = (req: FastifyRequest) => {
    if (!attempts.allow(req.ip))
      throw new AirlockError('rate_limited', 'too many sign-in attempts from this address; wait a minute', {
        retryAfter: 60,
      })
  }
  const redirectUri = () => `${broker.runtime().config.server.publicUrl.replace(/\/$/, '')}/console/callback`
  const providerTrouble = (e: unknown): never => {
    if (e instanceof ProviderUnavailable)
      throw err.unavailable(`the sign-in provider cannot be used: ${e.message}`)
    if (e instanceof SignInFailed) throw err.unauthenticated(`the sign-in did not succeed: ${e.message}`)
    throw e
  }

  async function signIn(
    req: FastifyRequest,
    reply: FastifyReply,
    human: HumanConfig,
    proof: { method: 'api_key' } | { method: 'oidc'; oidc: OidcBinding; previous: string | undefined },
  ) {
    const { method } = proof
    // A session this browser had before ends: one browser, one sign-in.
    const before = readCookie(req.headers.cookie, ctx.cookies().session)
    if (before) await ctx.sessions.end(before)
    if (proof.method === 'oidc' && proof.previous) await ctx.sessions.endHashed(proof.previous)
    const { cookie } = await ctx.sessions.create(
      human.id,
      method,
      proof.method === 'oidc'
        ? { oidc: proof.oidc }
        : human.apiKeySha256 !== null
          ? { key: human.apiKeySha256 }
          : {},
    )
    await broker.audit.record({
      type: 'console.signed_in',
      actor: human.id,
      details: { method, via: 'console' },
    })
    req.log.info({ reqId: req.id, human: human.id, method }, 'console sign-in')
    const names = ctx.cookies()
    reply.header('set-cookie', [
      setCookie(names.session, cookie, { secure: ctx.secure(), sameSite: 'Strict' }),
      clearCookie(names.login, ctx.secure(), 'Lax'),
    ])
  }

  app.get(
    '/login',
    {
      config: { console: { public: true } },
      schema: {
        ...page,
        querystring: Type.Object(
          { ended: Type.Optional(Type.String({ maxLength: 32 })) },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      const c = ctx.config()
      const names = ctx.cookies()
      let token = readCookie(req.headers.cookie, names.preCsrf)
      if (!token) {
        token = newSecret()
        reply.header(
          'set-cookie',
          setCookie(names.preCsrf, token, { secure: ctx.secure(), sameSite: 'Strict' }),
        )
      }
      const ended = req.query.ended
      const notice =
        ended === 'signed-out'
          ? 'You are signed out.'
          : ended !== undefined
            ? 'Your console session ended (it was idle too long, reached its time limit, or was signed out elsewhere). Sign in again.'
            : null
      return sendPage(
        ctx,
        req,
        reply,
        { title: 'Sign in', notice },
        html`${c.oidc ? html`<p><a class="button primary" href="/console/login/oidc">Sign in with single sign-on</a></p>` : ''}
        ${
          c.apiKeyLogin
            ? html`<h2>Sign in with your API key</h2>
                <form class="stack" method="post" action="/console/login/key">
                  <input type="hidden" name="csrf" value="${token}" />
                  <label for="api_key">API key</label>
                  <input
                    id="api_key"
                    name="api_key"
                    type="password"
                    autocomplete="current-password"
                    required
                    maxlength="512"
                  />
                  <div class="actions"><button class="primary" type="submit">Sign in</button></div>
                </form>`
            : ''
        }`,
      )
    },
  )

  app.get('/login/oidc', { config: { console: { public: true } }, schema: page }, async (req, reply) => {
    const client = oidc()
    limit(req)
    const state = newSecret()
    const binding = newSecret()
    const login: LoginState = {
      nonce: newSecret(),
      verifier: newSecret(),
      binding: sha256Hex(binding),
      issuer: ctx.config().oidc?.issuer ?? '',
    }
    const current = readCookie(req.headers.cookie, ctx.cookies().session)
    if (current) login.previous = sha256Hex(current)
    const url = await client
      .authorizationUrl({ state, nonce: login.nonce, verifier: login.verifier, redirectUri: redirectUri() })
      .catch(providerTrouble)
    await broker.store.putConsoleRecord('login', state, JSON.stringify(login), LOGIN_TTL_MS)
    // Lax: this cookie must come back with the provider's redirect, a cross-site navigation.
    reply.header(
      'set-cookie',
      setCookie(ctx.cookies().login, binding, {
        secure: ctx.secure(),
        sameSite: 'Lax',
        maxAgeSeconds: LOGIN_TTL_MS / 1000,
      }),
    )
    return seeOther(reply, url)
  })

  app.get(
    '/callback',
    {
      config: { console: { public: true } },
      schema: {
        ...page,
        // Providers add parameters of their own (iss, session_state, scope): they are ignored.
        querystring: Type.Object(
          {
            code: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
            state: Type.Optional(Type.String({ maxLength: 128 })),
            error: Type.Optional(Type.String({ maxLength: 128 })),
            error_description: Type.Optional(Type.String({ maxLength: 1024 })),
          },
          { additionalProperties: true },
        ),
      },
    },
    async (req, reply) => {
      const q = req.query
      const again = 'start again from the sign-in page'
      const state = q.state && /^[A-Za-z0-9_-]{1,128}$/.test(q.state) ? q.state : null
      const unknown = () =>
        err.invalid(
          `this sign-in link is not valid (used already, expired, or not from this broker): ${again}`,
        )
      // Read, not used up yet: only the browser that started the sign-in (its binding cookie) uses
      // the state, so a link replayed elsewhere cannot spoil the real browser's sign-in.
      const raw = state ? await broker.store.getConsoleRecord('login', state) : null
      if (!state || !raw) throw unknown()
      const login = JSON.parse(raw) as LoginState
      const binding = readCookie(req.headers.cookie, ctx.cookies().login)
      if (!binding || !sameSecret(sha256Hex(binding), login.binding))
        throw err.invalid(`this sign-in was started in another browser (or its cookie expired): ${again}`)
      // Used once: of two callbacks racing with the right cookie, one gets it.
      if ((await broker.store.takeConsoleRecord('login', state)) !== raw) throw unknown()
      if (q.error !== undefined) {
        const code = /^[\w.-]{1,64}$/.test(q.error) ? q.error : 'an error'
        throw err.unauthenticated(
          `the sign-in provider answered ${code}${q.error_description ? `: ${q.error_description}` : ''}`,
        )
      }
      if (!q.code) throw err.invalid(`the sign-in provider sent no code: ${again}`)
      // A reload may have pointed the console at another provider since this sign-in started.
      if (login.issuer !== ctx.config().oidc?.issuer)
        throw err.invalid(`the sign-in provider changed since this sign-in started: ${again}`)
      const identity = await oidc()
        .exchange({ code: q.code, verifier: login.verifier, nonce: login.nonce, redirectUri: redirectUri() })
        .catch(providerTrouble)
      const human = matchHuman(broker.runtime().config.humans, identity)
      if (!human) {
        req.log.warn({ reqId: req.id, sub: identity.sub }, 'console sign-in refused: no human matches')
        const who = identity.email ? `${identity.email} (subject ${identity.sub})` : `subject ${identity.sub}`
        throw err.forbidden(
          `you signed in as ${who}, but no person in this broker's config has that email or oidc_subject: ask an operator to add it to your entry under humans`,
        )
      }
      await signIn(req, reply, human, {
        method: 'oidc',
        oidc: {
          issuer: login.issuer,
          sub: identity.sub,
          email: identity.emailVerified === true ? identity.email : null,
        },
        previous: login.previous,
      })
      // A page, not a redirect: the browser arrived from the provider (another site), so it would
      // not send the SameSite=Strict session cookie along a redirect; it does from this page.
      return sendPage(
        ctx,
        req,
        reply,
        { title: 'Signed in', refresh: '/console' },
        html`<p>
          Signed in as <strong>${human.id}</strong>. <a href="/console">Continue to the console</a>.
        </p>`,
      )
    },
  )

  app.post(
    '/login/key',
    {
      config: { console: { public: true }, forms: true },
      bodyLimit: 4096,
      schema: {
        ...page,
        body: Type.Object(
          { csrf: Type.Optional(Secret), api_key: Type.String({ minLength: 1, maxLength: 512 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      limit(req)
      if (!ctx.config().apiKeyLogin)
        throw err.forbidden(
          'signing in with an API key is off on this broker (console.api_key_login); use single sign-on',
        )
      const pre = readCookie(req.headers.cookie, ctx.cookies().preCsrf)
      if (!pre || !req.body.csrf || !sameSecret(pre, req.body.csrf))
        throw err.forbidden(
          'the form’s security token (CSRF) is missing or wrong: reload the sign-in page and try again',
        )
      const p = await broker.runtime().authenticate(`Bearer ${req.body.api_key}`)
      if (!p) throw err.unauthenticated('that API key is not known: check it and try again')
      const human = p.kind === 'human' ? broker.runtime().humans.get(p.id) : undefined
      if (!human) throw err.forbidden('only people sign in to the console (that key is not a person’s)')
      await signIn(req, reply, human, { method: 'api_key' })
      return seeOther(reply, '/console')
    },
  )

  app.post(
    '/logout',
    {
      config: { console: {}, forms: true },
      bodyLimit: 4096,
      schema: {
        ...page,
        body: Type.Object({ csrf: Type.Optional(Secret) }, { additionalProperties: false }),
      },
    },
    async (req, reply) => {
      const cookie = req.consoleCookie
      const ended = cookie ? await ctx.sessions.end(cookie) : null
      if (ended)
        await broker.audit.record({
          type: 'console.signed_out',
          actor: ended.human,
          details: { via: 'console' },
        })
      reply.header('set-cookie', clearCookie(ctx.cookies().session, ctx.secure()))
      return seeOther(reply, '/console/login?ended=signed-out')
    },
  )
}
