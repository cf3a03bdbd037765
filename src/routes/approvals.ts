// Approving or denying a pending request (approvers), and claiming an approved grant (its agent).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { principalOf } from '../plugins/auth.js'
import { DECIDING_ROLES } from '../approvals/service.js'
import { ApprovalBody } from '../schemas/approval.js'
import { errors } from '../schemas/common.js'
import { SessionId } from '../schemas/session.js'

const approvals: FastifyPluginAsyncTypebox = async (app) => {
  const { approvals: svc } = app.broker

  app.post(
    '/v1/sessions/:id/approvals',
    {
      // Approvers approve or deny; an agent's owners (who may hold other roles) may deny. The
      // service decides per person and request.
      config: { roles: DECIDING_ROLES },
      schema: {
        summary: 'Approve or deny a pending request (eligible approvers; owners may deny)',
        tags: ['approvals'],
        params: SessionId,
        body: ApprovalBody,
        response: {
          200: Type.Object({ session: Type.Ref('Session') }),
          ...errors(400, 401, 403, 404, 409, 410, 413, 415, 503),
        },
      },
    },
    async (req) => ({
      session: await svc.decide(
        principalOf(req),
        req.params.id,
        req.body.decision,
        req.body.comment ?? null,
        'api',
      ),
    }),
  )

  app.post(
    '/v1/sessions/:id/grant',
    {
      config: { roles: ['agent'] },
      schema: {
        summary: 'Claim the grant of an approved session (its agent, once)',
        tags: ['approvals'],
        params: SessionId,
        response: {
          200: Type.Object({ session: Type.Ref('Session'), grant: Type.Ref('Grant') }),
          ...errors(401, 403, 404, 409, 410, 429, 503),
        },
      },
    },
    async (req) => svc.claim(principalOf(req), req.params.id),
  )
}

export default approvals
