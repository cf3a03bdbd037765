// The HTTP app: external plugins, then Airlock's plugins, then routes (fastify/demo's order).
import formbody from '@fastify/formbody'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import Fastify, { LogController, type FastifyReply, type FastifyServerOptions } from 'fastify'
import type { Backend } from './backend.js'
import { newRequestId } from './ids.js'
import authPlugin from './plugins/auth.js'
import brokerPlugin, { type Broker } from './plugins/broker.js'
import errorsPlugin, { classify } from './plugins/errors.js'
import mediaTypePlugin from './plugins/media-type.js'
import metricsPlugin from './plugins/metrics.js'
import rateLimitPlugin from './plugins/rate-limit.js'
import approvalRoutes from './routes/approvals.js'
import auditRoutes from './routes/audit.js'
import identityRoutes from './routes/identity.js'
import gatewayRoutes from './routes/gateway.js'
import consolePlugin from './console/plugin.js'
import introspectRoutes from './routes/introspect.js'
import lockRoutes from './routes/locks.js'
import consoleSessionRoutes from './routes/console-sessions.js'
import healthRoutes from './routes/health.js'
import jwksRoutes from './routes/jwks.js'
import vaultRoutes from './routes/vault.js'
import sessionRoutes from './routes/sessions.js'
import slackRoutes from './routes/slack.js'
import { AuditEvent } from './schemas/audit.js'
import { ErrorBody } from './schemas/common.js'
import { Lock } from './schemas/lock.js'
import { Grant, Session } from './schemas/session.js'
import { SecretMeta } from './schemas/vault.js'

export interface AppOptions {
  broker: Broker
  /** Where the shared rate limit counts (Redis: one budget across every replica). */
  backend: Backend
  logger: FastifyServerOptions['logger'] | FastifyServerOptions['loggerInstance']
}

// Bodies are validated strictly (no coercion: "900" is not a number, unknown fields are errors);
// query strings and params arrive as strings, so they are coerced.
function validators() {
  const strict = new Ajv({
    allErrors: false,
    // Errors carry their schema, so a message can name the fields that do exist.
    verbose: true,
    coerceTypes: false,
    removeAdditional: false,
    useDefaults: true,
    strict: false,
  })
  const lenient = new Ajv({
    allErrors: false,
    coerceTypes: true,
    removeAdditional: false,
    useDefaults: true,
    strict: false,
  })
  for (const a of [strict, lenient]) addFormats.default(a)
  return { strict, lenient }
}

export async function buildApp(opts: AppOptions) {
  const cfg = opts.broker.runtime().config
  const loggerOpt =
    opts.logger && typeof (opts.logger as { child?: unknown }).child === 'function'
      ? { loggerInstance: opts.logger as NonNullable<FastifyServerOptions['loggerInstance']> }
      : { logger: opts.logger as FastifyServerOptions['logger'] }
  const app = Fastify({
    ...loggerOpt,
    bodyLimit: cfg.server.bodyLimitBytes,
    genReqId: newRequestId,
    requestIdHeader: false,
    trustProxy: false,
    return503OnClosing: true,
    // Two synchronous log lines per request cost ~15% of throughput, and a child logger per request
    // another ~2%: requests share the root logger and log lines name the request id themselves.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger) => logger,
    // Errors fastify raises before routing (a malformed URL) leave in Airlock's error body too.
    frameworkErrors: (e, req, reply) => {
      const { status, code, message } = classify(e)
      void (reply as unknown as FastifyReply).code(status).send({ error: code, message, request_id: req.id })
    },
  }).withTypeProvider<TypeBoxTypeProvider>()

  const { strict, lenient } = validators()
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : lenient).compile(schema as object),
  )
  // Hooks on every request take a callback, not a promise: one promise and turn fewer per hook.
  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header('x-request-id', req.id)
    // Grants and introspection carry tokens and credentials (RFC 6749 §5.1): nothing is cached
    // unless a route says otherwise (the JWKS sets its own Cache-Control).
    if (!reply.hasHeader('cache-control')) {
      reply.header('cache-control', 'no-store')
      reply.header('pragma', 'no-cache')
    }
    done(null, payload)
  })

  // External plugins.
  await app.register(formbody, { bodyLimit: cfg.server.bodyLimitBytes })
  for (const s of [ErrorBody, Session, Grant, Lock, AuditEvent, SecretMeta]) app.addSchema(s)
  await app.register(swagger, {
    openapi: {
      info: { title: 'Airlock', version: '1', description: 'Just-in-time credential broker for AI agents' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    refResolver: {
      buildLocalReference: (json, _base, _frag, i) => (json.$id as string | undefined) ?? `def-${i}`,
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  // Airlock's plugins.
  await app.register(brokerPlugin, { broker: opts.broker })
  await app.register(errorsPlugin)
  await app.register(authPlugin)
  await app.register(mediaTypePlugin)
  await app.register(metricsPlugin)
  await app.register(rateLimitPlugin, {
    backend: opts.backend,
    perMinute: () => opts.broker.runtime().config.rateLimits.perAgentPerMinute,
  })

  // Routes.
  await app.register(healthRoutes)
  await app.register(jwksRoutes)
  await app.register(sessionRoutes)
  await app.register(introspectRoutes)
  await app.register(lockRoutes)
  await app.register(consoleSessionRoutes)
  await app.register(auditRoutes)
  await app.register(vaultRoutes)
  await app.register(approvalRoutes)
  await app.register(slackRoutes)
  await app.register(identityRoutes)
  await app.register(gatewayRoutes)
  await app.register(consolePlugin, { prefix: '/console' })
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
