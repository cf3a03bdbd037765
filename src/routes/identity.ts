// Who am I and what may I ask for (the `tsh status` / `tsh ls` of Airlock).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { principalOf } from '../plugins/auth.js'
import { entitlementsOf } from '../policy/entitlements.js'
import { errors } from '../schemas/common.js'
import { Entitlements, WhoAmI } from '../schemas/identity.js'
import type { RouteRole } from '../auth/principal.js'
import { packageVersion } from '../version.js'

/** Everyone who holds a credential: each of these routes only describes its caller. */
const ANYONE: readonly RouteRole[] = ['agent', 'approver', 'operator', 'admin', 'resource_server']

const identity: FastifyPluginAsyncTypebox = async (app) => {
  const version = packageVersion()

  app.get(
    '/v1/whoami',
    {
      config: { roles: ANYONE },
      schema: {
        summary: 'The caller: principal, kind and roles',
        tags: ['identity'],
        response: { 200: WhoAmI, ...errors(401, 403, 429) },
      },
    },
    async (req) => {
      const p = principalOf(req)
      return {
        id: p.id,
        kind: p.kind,
        roles: [...p.roles],
        ...(p.kind === 'agent' && { owners: p.agent.owners }),
        broker: { version, public_url: app.broker.runtime().config.server.publicUrl },
      }
    },
  )

  app.get(
    '/v1/entitlements',
    {
      config: { roles: ANYONE },
      schema: {
        summary:
          'What the caller may request: every environment x class x provider, with approvals and max TTL',
        tags: ['identity'],
        response: { 200: Entitlements, ...errors(401, 403, 429) },
      },
    },
    async (req) => {
      const p = principalOf(req)
      const rt = app.broker.runtime()
      const principal = { id: p.id, kind: p.kind, roles: [...p.roles] }
      if (p.kind !== 'agent') return { principal, entitlements: [] }
      const entitlements = entitlementsOf(rt.policy, p.id, {
        environments: rt.environments,
        classes: rt.classes,
        providers: rt.providers,
      })
      return { principal, entitlements }
    },
  )
}

export default identity
