import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { queryAudit, verifyAuditLog } from '../audit/read.js'
import { err } from '../errors.js'
import { errors } from '../schemas/common.js'
import { AuditQuery } from '../schemas/audit.js'

/** Stream positions are milliseconds since 1970: an earlier date would be a negative position. */
function sinceMs(since: string): number {
  const ms = Date.parse(since)
  if (!Number.isFinite(ms) || ms < 0)
    throw err.invalid(`since must be a date-time from 1970-01-01T00:00:00Z on (got ${since})`)
  return ms
}

const audit: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/v1/audit',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'Audit events, newest first',
        tags: ['audit'],
        querystring: AuditQuery,
        response: {
          200: Type.Object({ events: Type.Array(Type.Ref('AuditEvent')) }),
          ...errors(400, 401, 403, 503),
        },
      },
    },
    async (req) => {
      const q = req.query
      const events = await queryAudit(app.broker.store, {
        session_id: q.session_id,
        agent: q.agent,
        sinceMs: q.since === undefined ? undefined : sinceMs(q.since),
        limit: q.limit ?? 100,
      })
      return { events }
    },
  )

  app.get(
    '/v1/audit/verify',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'Verify every audit chain (hashes, sequence, links, recorded heads)',
        tags: ['audit'],
        response: {
          200: Type.Object({
            ok: Type.Boolean(),
            events: Type.Integer(),
            chains: Type.Array(
              Type.Object({ chain: Type.String(), first: Type.Integer(), last: Type.Integer() }),
            ),
            problems: Type.Array(Type.String()),
          }),
          ...errors(401, 403, 503),
        },
      },
    },
    async () => verifyAuditLog(app.broker.store),
  )
}

export default audit
