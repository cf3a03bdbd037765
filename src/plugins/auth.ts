// Bearer authentication and role checks. A route declares who may call it in `config.roles`;
// routes without it (health, JWKS, docs, Slack) authenticate themselves or need nothing.
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { err } from '../errors.js'
import { hasRole, type Principal, type RouteRole } from '../auth/principal.js'
import type { Runtime } from '../runtime.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    roles?: readonly RouteRole[]
  }
  interface FastifyRequest {
    principal: Principal | null
    /** The runtime (config) `principal` was authenticated under. */
    principalUnder: Runtime | null
  }
}

/** The authenticated caller of a route that declares roles. */
export function principalOf(req: { principal: Principal | null }): Principal {
  if (!req.principal) throw err.unauthenticated()
  return req.principal
}

export default fp(
  async (app) => {
    app.decorateRequest('principal', null)
    app.decorateRequest('principalUnder', null)
    const check = async (req: FastifyRequest) => {
      const roles = req.routeOptions.config.roles
      if (!roles) return
      const rt = app.broker.runtime()
      const principal = await rt.authenticate(req.headers.authorization)
      if (!principal) throw err.unauthenticated()
      if (!hasRole(principal, roles)) {
        throw err.forbidden(
          `${principal.id} lacks the role for this route (needs one of: ${roles.join(', ')})`,
        )
      }
      req.principal = principal
      req.principalUnder = rt
    }
    // The headers are checked as they arrive; a client may hold the body back for minutes. A
    // reload meanwhile (an agent, key or role removed) judges the caller again under the config
    // now in force, before the rate limit and the handler see it.
    const recheck = async (req: FastifyRequest) => {
      if (req.principalUnder !== app.broker.runtime()) await check(req)
    }
    // Only on the routes that declare roles: the others (the gateway's above all) skip the hook.
    app.addHook('onRoute', (route) => {
      if (!route.config?.roles) return
      const own = route.onRequest ?? []
      route.onRequest = [...(Array.isArray(own) ? own : [own]), check]
      const before = route.preHandler ?? []
      route.preHandler = [...(Array.isArray(before) ? before : [before]), recheck]
    })
  },
  { name: 'auth', dependencies: ['broker'] },
)
