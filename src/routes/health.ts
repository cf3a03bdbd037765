// Liveness, readiness, each provider's health, and Prometheus metrics.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { err } from '../errors.js'
import { providerHealth } from '../provider-health.js'
import { errors } from '../schemas/common.js'

const READY_TIMEOUT_MS = 1500

const within = <T>(p: Promise<T>, ms: number): Promise<T> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

const health: FastifyPluginAsyncTypebox = async (app) => {
  const { store, metrics } = app.broker

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness',
        tags: ['service'],
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/readyz',
    {
      schema: {
        summary:
          'Ready when the store and the vault answer (a provider in trouble does not make the broker unready)',
        tags: ['service'],
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ready') }), ...errors(503) },
      },
    },
    async () => {
      // Together within 1.5 s, so an unreachable store turns /readyz red well within 2 s.
      const checks = [store.ping(), ...(app.broker.vault ? [app.broker.vault.ping()] : [])]
      const failure = await within(Promise.all(checks), READY_TIMEOUT_MS).then(
        () => null,
        () => 'the session store or the vault does not answer',
      )
      if (failure) throw err.unavailable(failure)
      return { status: 'ready' as const }
    },
  )

  app.get(
    '/v1/providers',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: "Each provider's health and last error (never a secret)",
        tags: ['service'],
        response: {
          200: Type.Object({
            providers: Type.Array(
              Type.Object({
                name: Type.String(),
                type: Type.String(),
                audience: Type.String(),
                ok: Type.Boolean(),
                error: Type.Union([Type.String(), Type.Null()]),
              }),
            ),
          }),
          ...errors(401, 403),
        },
      },
    },
    async () => ({ providers: await providerHealth(app.broker.runtime()) }),
  )

  // server.metrics: with a listen address the API port has no /metrics at all (src/metrics-listener.ts).
  const exposure = app.broker.runtime().config.server.metrics
  if (exposure.mode !== 'listen') {
    const open = exposure.mode === 'public'
    app.get(
      '/metrics',
      {
        ...(!open && { config: { roles: ['operator'] as const } }),
        schema: {
          summary: open ? 'Prometheus metrics' : 'Prometheus metrics (operators; see server.metrics)',
          tags: ['service'],
          ...(open && { security: [] }),
          response: {
            200: Type.String({ description: 'Prometheus text exposition format' }),
            ...(!open && errors(401, 403)),
          },
        },
      },
      async (_req, reply) => {
        reply.header('content-type', metrics.registry.contentType)
        return metrics.registry.metrics()
      },
    )
  }
}

export default health
