// The public keys of session tokens, for anyone verifying them offline.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'

const jwks: FastifyPluginAsyncTypebox = async (app) => {
  const { tokens } = app.broker

  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        summary: 'Public keys of session tokens',
        tags: ['tokens'],
        security: [],
        response: { 200: Type.Object({ keys: Type.Array(Type.Object({}, { additionalProperties: true })) }) },
      },
    },
    async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return tokens.jwks()
    },
  )
}

export default jwks
