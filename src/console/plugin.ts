// The web console at /console: server-rendered pages and plain forms, one static script for live
// updates and confirmations. Every page sends a strict Content-Security-Policy (no inline script or
// style) and is never framed; every form that changes something carries the session's CSRF token.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError } from 'fastify'
import type { Role } from '../config/types.js'
import { AirlockError, err } from '../errors.js'
import { classify } from '../plugins/errors.js'
import { registerAssets } from './assets.js'
import { consoleConfig, isSecure, namesFor, type ConsoleContext } from './context.js'
import { readCookie } from './cookies.js'
import { EVENTS_PATH, registerEvents } from './events.js'
import { errorPage } from './layout.js'
import { registerLogin } from './login.js'
import { registerAudit } from './pages/audit.js'
import { registerLocks } from './pages/locks.js'
import { registerPending } from './pages/pending.js'
import { registerPeople } from './pages/people.js'
import { registerProviders } from './pages/providers.js'
import { registerSessions } from './pages/sessions.js'
import { consoleSessions, sameSecret, sessionHuman } from './sessions.js'

export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ')

/** A request that wants a page rather than JSON (browsers ask for text/html). */
const wantsHtml = (accept: string | undefined): boolean => (accept ?? '').includes('text/html')

const consolePlugin: FastifyPluginAsyncTypebox = async (app) => {
  const { broker } = app
  const ctx: ConsoleContext = {
    broker,
    assets: await registerAssets(app),
    sessions: consoleSessions({
      store: broker.store,
      clock: broker.clock,
      config: () => consoleConfig(broker),
    }),
    config: () => consoleConfig(broker),
    secure: () => isSecure(broker),
    cookies: () => namesFor(broker),
  }
  app.decorateRequest('consoleViewer', null)
  app.decorateRequest('consoleCookie', null)

  app.addHook('onSend', async (_req, reply) => {
    reply.header('content-security-policy', CSP)
    reply.header('x-frame-options', 'DENY')
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
    reply.header('cross-origin-opener-policy', 'same-origin')
    reply.header('cross-origin-resource-policy', 'same-origin')
    reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=()')
    if (ctx.secure()) reply.header('strict-transport-security', 'max-age=31536000')
  })

  // Who is signed in; pages for a role check it here, before anything runs.
  app.addHook('onRequest', async (req, reply) => {
    consoleConfig(broker)
    const rc = req.routeOptions.config.console
    if (!rc || rc.public) return
    const cookie = readCookie(req.headers.cookie, ctx.cookies().session)
    // A page's own refresh (the live script) is not activity: an open tab does not keep a session.
    const touch = req.headers['x-airlock-live'] === undefined && req.routeOptions.url !== EVENTS_PATH
    const s = cookie ? await ctx.sessions.read(cookie, touch) : null
    const human = s ? sessionHuman(s, broker.runtime().humans, ctx.config()) : null
    if (!s || !human) {
      // A session no one may hold any more ends here, on every replica.
      if (cookie && s) await ctx.sessions.end(cookie)
      if (req.method === 'GET' && wantsHtml(req.headers.accept)) return reply.redirect('/console/login', 303)
      throw err.unauthenticated('your console session has ended (or never began): sign in again')
    }
    req.consoleViewer = { id: human.id, roles: human.roles, csrf: s.csrf }
    req.consoleCookie = cookie
    if (rc.roles && !rc.roles.some((r) => human.roles.includes(r as Role)))
      throw err.forbidden(
        `${human.id} lacks the role for this page (it needs one of: ${rc.roles.join(', ')})`,
      )
  })

  // Every state change carries the session's CSRF token (sign-in forms check their own).
  app.addHook('preHandler', async (req) => {
    if (req.method !== 'POST' && req.method !== 'DELETE') return
    if (req.headers['sec-fetch-site'] === 'cross-site')
      throw err.forbidden('a console form was sent from another site')
    if (req.routeOptions.config.console?.public) return
    const token = (req.body as { csrf?: unknown } | undefined)?.csrf
    const v = req.consoleViewer
    if (typeof token !== 'string' || !v || !sameSecret(token, v.csrf))
      throw err.forbidden(
        'the form’s security token (CSRF) is missing or wrong: reload the page and try again',
      )
  })

  app.setErrorHandler((e: FastifyError | Error, req, reply) => {
    const { status, code } = classify(e)
    let { message } = classify(e)
    if (e instanceof AirlockError && e.retryAfter !== undefined)
      reply.header('retry-after', String(e.retryAfter))
    if (status >= 500)
      req.log.error({ reqId: req.id, err: { type: e.name, message: e.message } }, 'console request failed')
    if ((e as { validation?: unknown }).validation) message = `the form or link is not valid: ${message}`
    if (status === 415) message = 'send the form as application/x-www-form-urlencoded'
    if (!wantsHtml(req.headers.accept))
      return reply.code(status).send({ error: code, message, request_id: req.id })
    return reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(
        errorPage({
          status,
          message,
          requestId: req.id,
          viewer: req.consoleViewer,
          assets: ctx.assets,
          ...(status === 401 && { back: '/console/login' }),
        }),
      )
  })
  app.setNotFoundHandler(async (req, reply) => {
    const message = `there is no console page at ${(req.url.split('?')[0] ?? '').slice(0, 200)}`
    if (!wantsHtml(req.headers.accept))
      return reply.code(404).send({ error: 'not_found', message, request_id: req.id })
    return reply
      .code(404)
      .type('text/html; charset=utf-8')
      .send(errorPage({ status: 404, message, requestId: req.id, viewer: null, assets: ctx.assets }))
  })

  registerLogin(app, ctx)
  registerPending(app, ctx)
  registerSessions(app, ctx)
  registerLocks(app, ctx)
  registerAudit(app, ctx)
  registerProviders(app, ctx)
  registerPeople(app, ctx)
  registerEvents(app, ctx)
}

export default consolePlugin
