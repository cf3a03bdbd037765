// ANY /gw/{provider}/{path...}: a gateway provider's forwarding route (API.md, "Gateway provider").
// Each call: the session token checked as introspection checks it, the path contained, the call
// classified against the session's class and environment (and its approved action, once), then
// forwarded with the environment's credential; the answer streams back with the credential
// redacted. Refused calls never reach the upstream. Every call is audited, without its body.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import { isGateway, type GatewayProvider } from '../../providers/gateway/provider.js'
import type { AuditInput } from '../audit/log.js'
import { AirlockError, err } from '../errors.js'
import { requestDigest } from '../gateway/canonical.js'
import { checkRequest } from '../gateway/check.js'
import {
  BodyTooLarge,
  hasBody,
  limitStream,
  readBody,
  responseHeaders,
  upstreamHeaders,
} from '../gateway/forward.js'
import { containPath, upstreamUrl, type Contained } from '../gateway/path.js'
import { redactStream } from '../gateway/redact.js'
import { errors, Name } from '../schemas/common.js'

const Params = Type.Object({ provider: Name('A gateway provider'), '*': Type.Optional(Type.String()) })

const gateway: FastifyPluginAsyncTypebox = async (app) => {
  const { sessions, store, audit, metrics, runtime, log } = { ...app.broker, log: app.log }

  // Bodies are the upstream's business: left unread here, then read (GraphQL, actions) or streamed.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, _payload, done) => done(null))

  const record = (event: AuditInput) =>
    audit
      .record(event)
      .catch((e: unknown) =>
        log.error({ session: event.session_id, err: (e as Error).message }, 'gateway audit write failed'),
      )

  async function handle(req: FastifyRequest<{ Params: { provider: string } }>, reply: FastifyReply) {
    const name = req.params.provider
    const provider = runtime().providers.get(name)
    if (!isGateway(provider)) throw err.notFound(`no gateway provider ${name}`)
    const bearer = /^Bearer +(\S+)$/i.exec(req.headers.authorization ?? '')
    const found = bearer ? await sessions.authorize(bearer[1] as string) : null
    if (!found) {
      metrics.gatewayRequests.inc({ provider: name, outcome: 'unauthenticated' })
      throw err.unauthenticated('the session token is missing, invalid, expired, revoked or locked')
    }
    const { claims, rec } = found
    if (claims.provider !== name)
      throw err.forbidden(`this session token is for ${claims.provider}, not ${name}`)
    const method = req.method
    const contained = containPath(req.raw.url ?? '', `/gw/${name}`)
    const path = typeof contained === 'string' ? 'invalid' : `/${contained.segments.join('/')}`
    const details = {
      provider: name,
      environment: claims.env,
      operation_class: claims.op,
      method,
      path,
    }
    const refuse = async (e: AirlockError, refused: string): Promise<never> => {
      metrics.gatewayRequests.inc({ provider: name, outcome: 'refused' })
      await record({
        type: 'gateway.refused',
        actor: claims.sub,
        session_id: rec.id,
        details: { ...details, refused, status: e.statusCode },
      })
      throw e
    }
    if (typeof contained === 'string') return refuse(err.invalid(contained), 'path')

    const cfg = provider.config
    const bound = rec.action_digest ?? null
    const declared = Number(req.headers['content-length'])
    if (declared > cfg.bodyLimitBytes)
      return refuse(
        new AirlockError('payload_too_large', `the body is over ${cfg.bodyLimitBytes} bytes`),
        'body',
      )
    let body: Buffer | null = null
    if ((cfg.graphql || bound !== null) && hasBody(req.headers)) {
      try {
        body = await readBody(req.raw, cfg.bodyLimitBytes)
      } catch (e) {
        if (e instanceof BodyTooLarge) return refuse(new AirlockError('payload_too_large', e.message), 'body')
        throw err.invalid('the request body could not be read')
      }
    }
    const target = { provider: name, environment: claims.env, operationClass: claims.op }
    const outcome = checkRequest(cfg, target, {
      method,
      contentType: String(req.headers['content-type'] ?? ''),
      body,
      contained,
    })
    if (!outcome.ok)
      return refuse(
        outcome.status === 400 ? err.invalid(outcome.message) : err.denied(outcome.message),
        outcome.refused,
      )
    const names = { operations: outcome.operations, fields: outcome.fields.map((f) => f.name) }

    if (bound !== null) {
      const action = rec.action ?? { method: '', path: '' }
      if (requestDigest(method, contained.path + contained.query, body, cfg.graphql) !== bound)
        return refuse(
          err.denied(
            `this session may send only its approved action (${action.method} ${action.path || '/'}), exactly as approved`,
          ),
          'action',
        )
      // Atomic across replicas: of two calls racing with the approved action, one goes through.
      const keep = rec.expires_at + runtime().config.store.retentionMs
      if (!(await store.useAction(rec.id, keep)))
        return refuse(
          err.denied('the approved action was already used; request a new session to run it again'),
          'action',
        )
    }
    return forward(provider, req, reply, {
      contained,
      body,
      env: claims.env,
      details: { ...details, ...names },
      actor: claims.sub,
      sessionId: rec.id,
    })
  }

  async function forward(
    provider: GatewayProvider,
    req: FastifyRequest,
    reply: FastifyReply,
    call: {
      contained: Contained
      body: Buffer | null
      env: string
      details: Record<string, unknown>
      actor: string
      sessionId: string
    },
  ) {
    const cfg = provider.config
    const env = cfg.environments[call.env]
    const url = env && upstreamUrl(env.upstream, call.contained)
    if (!env || !url) throw err.invalid('the path leaves the upstream')
    let credential: string
    try {
      credential = await provider.credential(call.env)
    } catch {
      throw err.unavailable(
        `the upstream credential of ${provider.name} in ${call.env} cannot be read; nothing was sent`,
      )
    }
    const secrets = [credential, JSON.stringify(credential).slice(1, -1)]
    const streamed = call.body === null && hasBody(req.headers)
    const headers = upstreamHeaders(req.headers, cfg, env, credential, call.body?.length ?? null)
    if (streamed && req.headers['content-length'])
      headers['content-length'] = String(req.headers['content-length'])
    const audited = (status: number, outcome: string) => {
      metrics.gatewayRequests.inc({ provider: provider.name, outcome })
      return record({
        type: 'gateway.forwarded',
        actor: call.actor,
        session_id: call.sessionId,
        details: { ...call.details, status },
      })
    }
    const started = performance.now()
    let res
    try {
      res = await provider.dispatcher.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: req.method as 'GET',
        headers,
        body: call.body ?? (streamed ? req.raw.pipe(limitStream(cfg.bodyLimitBytes)) : null),
      })
    } catch (e) {
      if (e instanceof BodyTooLarge || (e as Error).cause instanceof BodyTooLarge) {
        await audited(413, 'refused')
        throw new AirlockError('payload_too_large', `the body is over ${cfg.bodyLimitBytes} bytes`)
      }
      await audited(502, 'upstream_error')
      throw err.upstream(
        `${provider.name} did not answer within ${cfg.timeoutMs / 1000}s or cannot be reached (${(e as { code?: string }).code ?? 'error'})`,
      )
    } finally {
      metrics.gatewayUpstream.observe({ provider: provider.name }, (performance.now() - started) / 1000)
    }
    const encoding = String(res.headers['content-encoding'] ?? 'identity').toLowerCase()
    if (encoding !== 'identity') {
      res.body.destroy()
      await audited(502, 'upstream_error')
      throw err.upstream(
        `${provider.name} answered with a ${encoding}-encoded body, which the gateway cannot check`,
      )
    }
    await audited(res.statusCode, 'forwarded')
    const out = redactStream(secrets)
    res.body.on('error', (e) => out.destroy(e))
    reply.code(res.statusCode).headers(responseHeaders(res.headers, secrets))
    return reply.send(res.body.pipe(out))
  }

  const schema = {
    summary: 'Forward a call to a gateway provider’s upstream, if the session’s class allows it',
    tags: ['gateway'],
    params: Params,
    response: errors(400, 401, 403, 404, 413, 502, 503),
  }
  app.all('/gw/:provider', { schema }, handle)
  app.all('/gw/:provider/*', { schema }, handle)
}

export default gateway
