// What every console route shares: the broker's services, the signed-in viewer, rendering and
// redirects. Routes call the same services as the API (approvals, sessions, locks, audit).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Principal, RouteRole } from '../auth/principal.js'
import type { ConsoleConfig } from '../config/types.js'
import { err } from '../errors.js'
import type { Broker } from '../plugins/broker.js'
import type { ConsoleAssets } from './assets.js'
import { cookieNames, type CookieNames } from './cookies.js'
import type { Part } from './html.js'
import { page, type PageOptions, type Viewer } from './layout.js'
import type { ConsoleSessions } from './sessions.js'

export type ConsoleApp = Parameters<FastifyPluginAsyncTypebox>[0]

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * A console route: `roles` may open it (any signed-in person when absent); `public` needs no
     * sign-in (the sign-in pages).
     */
    console?: { roles?: readonly RouteRole[]; public?: boolean }
  }
  interface FastifyRequest {
    consoleViewer: Viewer | null
    consoleCookie: string | null
  }
}

export interface ConsoleContext {
  broker: Broker
  assets: ConsoleAssets
  sessions: ConsoleSessions
  /** The console section in force (the guard answers 404 before any route when there is none). */
  config(): ConsoleConfig
  /** Cookies are Secure (and __Host-) when server.public_url is https. */
  secure(): boolean
  cookies(): CookieNames
}

export const consoleConfig = (broker: Broker): ConsoleConfig => {
  const c = broker.runtime().config.console
  if (!c) throw err.notFound('the console is not set up on this broker (add a console section to its config)')
  return c
}

export const isSecure = (broker: Broker): boolean =>
  broker.runtime().config.server.publicUrl.startsWith('https:')

export const namesFor = (broker: Broker): CookieNames => cookieNames(isSecure(broker))

/** The signed-in person (routes run after the guard, which refuses anyone else). */
export function viewerOf(req: FastifyRequest): Viewer {
  if (!req.consoleViewer) throw err.unauthenticated('sign in to the console first')
  return req.consoleViewer
}

/** The viewer as the services know people: the same principal an API key of theirs would be. */
export const principalOf = (req: FastifyRequest): Principal & { kind: 'human' } => {
  const v = viewerOf(req)
  return { kind: 'human', id: v.id, roles: v.roles }
}

export function sendPage(
  ctx: ConsoleContext,
  req: FastifyRequest,
  reply: FastifyReply,
  o: Omit<PageOptions, 'viewer' | 'assets'>,
  body: Part,
): FastifyReply {
  return reply
    .type('text/html; charset=utf-8')
    .send(page({ ...o, viewer: req.consoleViewer, assets: ctx.assets }, body))
}

/** After a form: back to a page (303, so a reload does not send the form again). */
export const seeOther = (reply: FastifyReply, url: string): FastifyReply => reply.redirect(url, 303)

/** What the notice parameter of a page says after an action (a fixed set: nothing echoed). */
export function noticeText(done: string | undefined, n = 0): string | null {
  const s = n === 1 ? '' : 's'
  const notices: Record<string, string> = {
    approved: 'Your approval was recorded.',
    denied: 'The request was denied.',
    revoked: 'The session was revoked.',
    bulk: `${n} session${s} revoked.`,
    locked: `Lock created; ${n} live session${s} revoked.`,
    lifted: 'The lock was lifted.',
    signedout: `${n} console session${s} ended.`,
  }
  return done !== undefined && Object.hasOwn(notices, done) ? (notices[done] ?? null) : null
}
