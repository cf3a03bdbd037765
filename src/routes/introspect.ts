import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { principalOf } from '../plugins/auth.js'
import { errors } from '../schemas/common.js'
import { IntrospectBody, IntrospectResponse } from '../schemas/introspect.js'

const introspect: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/introspect',
    {
      config: { roles: ['operator', 'resource_server', 'agent'], forms: true },
      schema: {
        summary: 'RFC 7662 token introspection (JSON or form body)',
        tags: ['tokens'],
        body: IntrospectBody,
        response: { 200: IntrospectResponse, ...errors(400, 401, 403, 413, 415, 429, 503) },
      },
    },
    async (req) => app.broker.sessions.introspect(principalOf(req), req.body.token),
  )
}

export default introspect
