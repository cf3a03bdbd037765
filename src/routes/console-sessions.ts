// Ending a person's console sessions (a stolen laptop, someone leaving): every browser they are
// signed in on, on every replica, at once. The console's operators' form calls the same function.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyBaseLogger } from 'fastify'
import { Type } from '@sinclair/typebox'
import { err } from '../errors.js'
import type { Broker } from '../plugins/broker.js'
import { principalOf } from '../plugins/auth.js'
import { errors, Name } from '../schemas/common.js'

/**
 * Ends every console session of `human` (a person of the config; 404 otherwise) and records who
 * did it. The ending stands even if the audit write fails: it is the safe direction.
 */
export async function endConsoleSessionsOf(
  deps: { broker: Broker; log: FastifyBaseLogger },
  by: string,
  human: string,
  via: 'api' | 'console',
): Promise<number> {
  const { broker, log } = deps
  if (!broker.runtime().humans.has(human))
    throw err.notFound(`there is no person ${human} in this broker's config (humans[].id)`)
  const ended = await broker.store.endConsoleSessions(human)
  await broker.audit
    .record({ type: 'console.sessions_ended', actor: by, details: { human, ended, via } })
    .catch((e: unknown) =>
      log.error({ human, err: (e as Error).message }, 'audit write failed after ending console sessions'),
    )
  log.info({ by, human, ended }, 'console sessions ended')
  return ended
}

const consoleSessions: FastifyPluginAsyncTypebox = async (app) => {
  app.delete(
    '/v1/console-sessions/:human',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'Sign a person out of the web console everywhere (operators)',
        tags: ['console'],
        params: Type.Object(
          { human: Name('the person, as humans[].id in the config') },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            human: Type.String(),
            ended: Type.Integer({ description: 'how many console sessions were live and ended' }),
          }),
          ...errors(400, 401, 403, 404, 503),
        },
      },
    },
    async (req) => {
      const { human } = req.params
      const ended = await endConsoleSessionsOf(
        { broker: app.broker, log: req.log },
        principalOf(req).id,
        human,
        'api',
      )
      return { human, ended }
    },
  )
}

export default consoleSessions
