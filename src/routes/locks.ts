import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { principalOf } from '../plugins/auth.js'
import { errors } from '../schemas/common.js'
import { LockId, LockRequest } from '../schemas/lock.js'

const LockRef = Type.Ref('Lock')

const locks: FastifyPluginAsyncTypebox = async (app) => {
  const svc = app.broker.locks
  const config = { roles: ['operator'] as const }

  app.post(
    '/v1/locks',
    {
      config,
      schema: {
        summary: 'Quarantine an agent, environment, provider or task; revokes what it matches',
        tags: ['locks'],
        body: LockRequest,
        response: {
          201: Type.Object({ lock: LockRef, revoked_sessions: Type.Array(Type.String()) }),
          ...errors(400, 401, 403, 413, 415, 503),
        },
      },
    },
    async (req, reply) => reply.code(201).send(await svc.create(principalOf(req).id, req.body)),
  )

  app.get(
    '/v1/locks',
    {
      config,
      schema: {
        summary: 'Locks in force',
        tags: ['locks'],
        response: { 200: Type.Object({ locks: Type.Array(LockRef) }), ...errors(401, 403, 503) },
      },
    },
    async () => ({ locks: await svc.list() }),
  )

  app.delete(
    '/v1/locks/:id',
    {
      config,
      schema: {
        summary: 'Lift a lock',
        tags: ['locks'],
        params: LockId,
        response: { 200: Type.Object({ lock: LockRef }), ...errors(401, 403, 404, 503) },
      },
    },
    async (req) => ({ lock: await svc.remove(principalOf(req).id, req.params.id) }),
  )
}

export default locks
