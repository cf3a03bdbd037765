// A route with a body schema takes JSON (and form bodies where a route says so, as RFC 7662 and
// Slack need): anything else is a 415 that says what to send, instead of a schema error about a
// body that was never read as the caller meant it.
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { err } from '../errors.js'
import { JSON_ONLY } from './errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Also accept application/x-www-form-urlencoded bodies. */
    forms?: boolean
    /** The body may be left out (every field optional): a request with none is taken as `{}`. */
    optionalBody?: boolean
  }
}

const FORM = 'application/x-www-form-urlencoded'

export default fp(
  async (app) => {
    const check = async (req: FastifyRequest) => {
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
      if (type === 'application/json') return
      if (req.routeOptions.config.optionalBody && type === '' && req.body === undefined) {
        req.body = {}
        return
      }
      if (type === FORM && req.routeOptions.config.forms) return
      // Named back only when it looks like a media type: the header is the caller's text.
      const sent = /^[a-z0-9.+-]{1,40}\/[a-z0-9.+-]{1,60}$/.test(type) ? ` (this request sent ${type})` : ''
      throw err.mediaType(
        req.routeOptions.config.forms
          ? `send the body as JSON (Content-Type: application/json) or as a form (${FORM})${sent}`
          : `${JSON_ONLY}${sent}`,
      )
    }
    // Only on the routes with a body schema: the others (the gateway's above all) skip the hook.
    app.addHook('onRoute', (route) => {
      if (!route.schema?.body) return
      const own = route.preValidation ?? []
      route.preValidation = [...(Array.isArray(own) ? own : [own]), check]
    })
  },
  { name: 'media-type' },
)
