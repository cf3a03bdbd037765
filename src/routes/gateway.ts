// ANY /gw/{provider}/{path...}: a gateway provider's forwarding route (docs/gateway.md).
// Each call: the session token checked as introspection checks it, the path contained, the call
// classified against the session's class and environment (and its approved action, once), then
// forwarded with the environment's credential (gateway-relay.ts: the upstream call and the answer,
// the credential redacted). Refused calls never reach the upstream. Every call is audited, without
// its body.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import { isGateway } from '../../providers/gateway/provider.js'
import type { AuditInput } from '../audit/log.js'
import { AirlockError, err } from '../errors.js'
import { readsOtherwise } from '../gateway/action.js'
import { requestDigest } from '../gateway/canonical.js'
import { checkRequest, httpAllows, mayChange } from '../gateway/check.js'
import { BodyTooLarge, hasBody, readBody } from '../gateway/forward.js'
import { mayOverride } from '../gateway/method-override.js'
import { containPath, upstreamUrl } from '../gateway/path.js'
import { errors, Name } from '../schemas/common.js'
import { isDestructive } from '../policy/decide.js'
import { createRelay } from './gateway-relay.js'

const Params = Type.Object({ provider: Name('A gateway provider'), '*': Type.Optional(Type.String()) })

const gateway: FastifyPluginAsyncTypebox = async (app) => {
  const { sessions, store, audit, metrics, runtime, gatewayCalls, log } = { ...app.broker, log: app.log }

  // Bodies are the upstream's business: left unread here, then read (GraphQL, actions, a POST's for
  // a _method) or streamed.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, _payload, done) => done(null))

  /**
   * Whether the last gateway event failed to be written. While it did, nothing is forwarded: a
   * refusal's event is still tried, and the first one written lets calls through again.
   */
  let auditFailing = false
  /** Writes a gateway event; false (logged) when the audit log cannot be written. */
  const record = (event: AuditInput): Promise<boolean> =>
    audit.record(event).then(
      () => {
        auditFailing = false
        return true
      },
      (e: unknown) => {
        auditFailing = true
        log.error({ session: event.session_id, err: (e as Error).message }, 'gateway audit write failed')
        return false
      },
    )
  const auditDown = (what: string) =>
    err.unavailable(`the audit log cannot be written, so ${what}; try again when it is back`)
  const relay = createRelay({ metrics, record, auditDown })

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
    /** What classification found: a refusal after it names the operations and fields too. */
    let names: { operations: string[]; fields: string[] } | null = null
    const refuse = async (e: AirlockError, refused: string, outcome = 'refused'): Promise<never> => {
      metrics.gatewayRequests.inc({ provider: name, outcome })
      await record({
        type: 'gateway.refused',
        actor: claims.sub,
        session_id: rec.id,
        details: { ...details, ...names, refused, status: e.statusCode },
      })
      throw e
    }
    if (claims.provider !== name)
      return refuse(err.forbidden(`this session token is for ${claims.provider}, not ${name}`), 'provider')
    if (typeof contained === 'string') return refuse(err.invalid(contained), 'path')

    const cfg = provider.config
    // A runaway agent would spend the shared token's upstream quota for everyone: a session's
    // calls are counted (refusals too) against the environment's limit, when one is set.
    const limit = cfg.environments[claims.env]?.callsPerMinute ?? null
    if (limit !== null) {
      const taken = await gatewayCalls.take(rec.id, limit)
      if (taken.count > limit) {
        const retryAfter = Math.max(1, Math.ceil(taken.resetMs / 1000))
        return refuse(
          new AirlockError(
            'rate_limited',
            `this session may send at most ${limit} calls a minute to ${name}; retry in ${retryAfter} s`,
            { retryAfter },
          ),
          'rate',
          'rate_limited',
        )
      }
    }
    const bound = rec.action_digest ?? null
    // A destructive class sends only the one call two people approved. A session granted before a
    // reload made its class destructive has no such call (and perhaps fewer approvals): it sends none.
    if (bound === null && isDestructive(runtime().config.operationClasses, claims.op))
      return refuse(
        err.denied(
          `operation class ${claims.op} is now destructive: a session of it sends only a call two people approved, and this one was granted without one; request a new session with its action`,
        ),
        'action',
      )
    const declared = Number(req.headers['content-length'])
    if (declared > cfg.bodyLimitBytes)
      return refuse(
        new AirlockError('payload_too_large', `the body is over ${cfg.bodyLimitBytes} bytes`),
        'body',
      )
    let body: Buffer | null = null
    const contentType = String(req.headers['content-type'] ?? '')
    // Read whole when checked (GraphQL, a POST that may override its method) or bound. A POST its
    // class does not allow is refused for its path alone, so its body is left unread. (A class
    // that allows DELETE, which every override may name, is destructive: its calls are bound.)
    const check =
      cfg.graphql ||
      bound !== null ||
      (mayOverride(method) && httpAllows(cfg, claims.op, method, contained.segments))
    if (check && hasBody(req.headers)) {
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
      contentType,
      body,
      contained,
    })
    if (!outcome.ok)
      return refuse(
        outcome.status === 400 ? err.invalid(outcome.message) : err.denied(outcome.message),
        outcome.refused,
      )
    names = { operations: outcome.operations, fields: outcome.fields.map((f) => f.name) }
    // Fail closed: no call goes out (and no approved action is used up) that could not be audited.
    if (auditFailing) return refuse(auditDown('nothing was sent'), 'audit', 'unavailable')

    // What forwarding needs is at hand before an approved action is used up: the upstream URL,
    // checked once more by the URL parser, and the environment's credential.
    // An environment a reload took from this provider (and not from the config) leaves its
    // sessions alive: refused as a GraphQL gateway refuses them, not as a bad path.
    const env = cfg.environments[claims.env]
    if (!env) return refuse(err.denied(`${name} has no rules for ${claims.op} in ${claims.env}`), 'request')
    const url = upstreamUrl(env.upstream, contained)
    if (!url) return refuse(err.invalid('the path leaves the upstream'), 'path')
    let credential: string
    try {
      credential = await provider.credential(claims.env)
    } catch {
      return refuse(
        err.unavailable(
          `the upstream credential of ${name} in ${claims.env} cannot be read; nothing was sent`,
        ),
        'credential',
        'unavailable',
      )
    }
    if (bound !== null) {
      const action = rec.action ?? { method: '', path: '' }
      const why = body !== null && body.length > 0 ? readsOtherwise(contentType, body) : null
      if (why !== null) return refuse(err.denied(why), 'action')
      if (requestDigest(method, contained.path + contained.query, body, cfg.graphql) !== bound)
        return refuse(
          err.denied(
            `this session may send only its approved action (${action.method} ${action.path || '/'}), exactly as approved`,
          ),
          'action',
        )
    }
    // Audit before effect: a call that may change the upstream goes out only once its event is
    // written (its outcome follows as gateway.forwarded). A read is audited once, after its answer,
    // which is withheld if that event cannot be written.
    if (mayChange(cfg, method, outcome.fields)) {
      const sending = { type: 'gateway.sending', actor: claims.sub, session_id: rec.id }
      if (!(await record({ ...sending, details: { ...details, ...names } })))
        return refuse(auditDown('nothing was sent'), 'audit', 'unavailable')
    }
    if (bound !== null) {
      // Atomic across replicas: of two calls racing with the approved action, one goes through.
      const keep = rec.expires_at + runtime().config.store.retentionMs
      if (!(await store.useAction(rec.id, keep)))
        return refuse(
          err.denied('the approved action was already used; request a new session to run it again'),
          'action',
        )
    }
    return relay(provider, req, reply, {
      url,
      env,
      credential,
      body,
      details: { ...details, ...names },
      actor: claims.sub,
      sessionId: rec.id,
    })
  }

  const schema = {
    summary: 'Forward a call to a gateway provider’s upstream, if the session’s class allows it',
    tags: ['gateway'],
    params: Params,
    response: errors(400, 401, 403, 404, 413, 429, 502, 503),
  }
  // The per-agent rate limit counts agents authenticated by API key; a gateway call carries a
  // session token instead and was never counted, so the limit's hook is left off these routes.
  const config = { rateLimit: false as const }
  app.all('/gw/:provider', { schema, config }, handle)
  app.all('/gw/:provider/*', { schema, config }, handle)
}

export default gateway
