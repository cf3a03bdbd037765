import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { err } from '../errors.js'
import { matchesFilter } from '../sessions/reading.js'
import { principalOf } from '../plugins/auth.js'
import { errors } from '../schemas/common.js'
import {
  BulkRevoke,
  ListQuery,
  SessionId,
  SessionRequest,
  TtlClamped,
  WaitQuery,
} from '../schemas/session.js'

const SessionRef = Type.Ref('Session')
const GrantRef = Type.Ref('Grant')
const sessions: FastifyPluginAsyncTypebox = async (app) => {
  const { sessions: svc } = app.broker

  app.post(
    '/v1/sessions',
    {
      config: { roles: ['agent'] },
      schema: {
        summary: 'Request a session (agents)',
        tags: ['sessions'],
        // The schema's ceiling is the loader's widest; the service checks tokens.max_ttl in force,
        // so a reload that raises it applies at once, with the same message.
        body: SessionRequest,
        response: {
          201: Type.Object({ session: SessionRef, grant: GrantRef, ttl_clamped: Type.Optional(TtlClamped) }),
          202: Type.Object({ session: SessionRef, ttl_clamped: Type.Optional(TtlClamped) }),
          ...errors(400, 401, 403, 410, 413, 415, 429, 503),
        },
      },
    },
    async (req, reply) => {
      const p = principalOf(req)
      if (p.kind !== 'agent') throw err.forbidden('only agents request sessions')
      const r = await svc.request(p, req.body)
      const clamped = r.ttlClamped && { ttl_clamped: r.ttlClamped }
      return reply
        .code(r.status)
        .send(
          r.grant ? { session: r.session, grant: r.grant, ...clamped } : { session: r.session, ...clamped },
        )
    },
  )

  app.get(
    '/v1/sessions/:id',
    {
      config: { roles: ['agent', 'approver', 'operator'] },
      schema: {
        summary: 'Read a session; ?wait=N holds until its status changes',
        tags: ['sessions'],
        params: SessionId,
        querystring: WaitQuery,
        response: { 200: SessionRef, ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (req) => {
      const wait = req.query.wait ?? 0
      if (wait === 0) return svc.get(principalOf(req), req.params.id)
      const abort = new AbortController()
      req.raw.once('close', () => abort.abort())
      return svc.wait(principalOf(req), req.params.id, wait, abort.signal)
    },
  )

  app.get(
    '/v1/sessions',
    {
      config: { roles: ['approver', 'operator'] },
      schema: {
        summary: 'List sessions (approvers and operators), newest first',
        tags: ['sessions'],
        querystring: ListQuery,
        response: {
          200: Type.Object({
            sessions: Type.Array(SessionRef),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errors(400, 401, 403, 503),
        },
      },
    },
    async (req) => {
      const { limit, cursor, ...filter } = req.query
      const n = limit ?? 50
      try {
        return await svc.list(filter, n, cursor ?? null)
      } catch (e) {
        if (e instanceof RangeError)
          throw err.invalid('querystring/cursor is not a cursor this server issued')
        throw e
      }
    },
  )

  app.delete(
    '/v1/sessions/:id',
    {
      config: { roles: ['agent', 'operator'] },
      schema: {
        summary: 'End a session (its agent at task end) or revoke it (operators). Idempotent.',
        tags: ['sessions'],
        params: SessionId,
        response: { 200: Type.Object({ session: SessionRef }), ...errors(401, 403, 404, 429, 503) },
      },
    },
    async (req) => ({ session: await svc.end(principalOf(req), req.params.id) }),
  )

  app.post(
    '/v1/sessions/revoke',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'Revoke every live session matching a filter (operators)',
        tags: ['sessions'],
        body: BulkRevoke,
        response: {
          200: Type.Object({ revoked: Type.Integer(), session_ids: Type.Array(Type.String()) }),
          ...errors(400, 401, 403, 413, 415, 503),
        },
      },
    },
    async (req) => {
      const f = req.body
      if (Object.keys(f).length === 0) {
        throw err.invalid('name at least one of agent, environment, provider, operation_class, task_id')
      }
      const p = principalOf(req)
      // The same filter as listing (status is not part of a bulk revoke's body).
      const ids = await svc.revokeMatching(p.id, 'bulk revoke by an operator', (r) =>
        matchesFilter(r, f, Date.now()),
      )
      return { revoked: ids.length, session_ids: ids }
    },
  )
}

export default sessions
