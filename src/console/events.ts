// Server-sent events for pages that update by themselves. Fed by the store's change feed (the one
// behind GET /v1/sessions/{id}?wait=: Redis pub/sub, so a change on any replica is heard): one
// session's changes for its page, any session's for the lists. The stream says `change` (the page
// fetches itself again) and `signed-out` when the console session ends (idle or absolute timeout,
// sign-out elsewhere); an open stream does not count as activity.
import { setTimeout as sleep } from 'node:timers/promises'
import { Type } from '@sinclair/typebox'
import type { Role } from '../config/types.js'
import { SessionId } from '../schemas/session.js'
import { ANY_SESSION } from '../store/types.js'
import { principalOf, type ConsoleApp, type ConsoleContext } from './context.js'
import { sessionHuman } from './sessions.js'

const HEARTBEAT_MS = 20_000
/**
 * A watch is renewed this often (the page refreshes then too). Lists need no shorter refresh:
 * every write of a session announces it, grants at once included (the append that creates a
 * session publishes it in the same script), and a subscription that was down wakes every watch.
 */
const WATCH_MS = 3_600_000
/** Changes within this window reach the page as one refresh (a bulk revocation is many changes). */
const COALESCE_MS = 150
/** How long an open stream goes without checking that its console session still holds. */
const CHECK_MS = 60_000
export const EVENTS_PATH = '/console/events'
/** Who may listen (the pages that update by themselves are theirs). */
const STREAM_ROLES: Role[] = ['approver', 'operator']

export function registerEvents(app: ConsoleApp, ctx: ConsoleContext) {
  const { broker } = ctx
  const streams = new Set<AbortController>()
  // Open streams would hold the server open on close: they end first.
  app.addHook('preClose', async () => {
    for (const s of streams) s.abort()
  })

  app.get(
    '/events',
    {
      config: { console: { roles: STREAM_ROLES } },
      schema: {
        hide: true,
        querystring: Type.Object(
          { session: Type.Optional(SessionId.properties.id) },
          { additionalProperties: false },
        ),
        response: { 200: Type.String({ description: 'text/event-stream: change, signed-out' }) },
      },
    },
    async (req, reply) => {
      const session = req.query.session
      // Not found (404) unless the viewer may read it, as GET /v1/sessions/{id}.
      if (session) await broker.sessions.get(principalOf(req), session)
      const cookie = req.consoleCookie as string
      const stop = new AbortController()
      const key = session ?? ANY_SESSION
      // Listening before the stream opens: a store that cannot subscribe is a 503, not a dead stream.
      let watch = await broker.store.watchChange(key, WATCH_MS, stop.signal)

      reply.hijack()
      const res = reply.raw
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
        'x-request-id': req.id,
      })
      const send = (event: string) => {
        if (!res.writableEnded) res.write(`event: ${event}\ndata: ${Date.now()}\n\n`)
      }
      res.write('retry: 3000\n\n')
      streams.add(stop)
      const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS)
      let expiry: NodeJS.Timeout | undefined
      const end = () => {
        stop.abort()
        streams.delete(stop)
        clearInterval(heartbeat)
        clearTimeout(expiry)
        if (!res.writableEnded) res.end()
      }
      res.once('close', end)
      stop.signal.addEventListener('abort', end, { once: true })

      // The console session's end: checked at its deadline (another tab may have moved it), at
      // least every minute, and before each change is told (a sign-out elsewhere, a person removed
      // or no longer holding a role for this stream).
      const signedIn = async (): Promise<boolean | undefined> => {
        const s = await ctx.sessions.read(cookie, false).catch(() => undefined)
        if (stop.signal.aborted) return false
        if (s === undefined) return undefined
        const human = s && sessionHuman(s, broker.runtime().humans, ctx.config())
        if (s && human && human.roles.some((r) => STREAM_ROLES.includes(r))) {
          clearTimeout(expiry)
          const wait = Math.min(Math.max(ctx.sessions.deadline(s) - broker.clock.now(), 0) + 50, CHECK_MS)
          expiry = setTimeout(() => void checkSignIn(), wait)
          return true
        }
        send('signed-out')
        end()
        return false
      }
      const checkSignIn = async () => {
        if ((await signedIn()) === undefined) expiry = setTimeout(() => void checkSignIn(), 5000)
      }
      await checkSignIn()

      try {
        while (!stop.signal.aborted) {
          await watch.changed
          if (stop.signal.aborted) break
          // Listen again before telling the page, so no change falls between two watches.
          watch = await broker.store.watchChange(key, WATCH_MS, stop.signal)
          await sleep(COALESCE_MS, undefined, { signal: stop.signal }).catch(() => {})
          if ((await signedIn()) !== false) send('change')
        }
      } catch (e) {
        req.log.warn({ reqId: req.id, err: (e as Error).message }, 'console event stream ended')
      } finally {
        end()
      }
    },
  )
}
