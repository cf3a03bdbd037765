// The call a gateway route allowed, sent upstream and answered: the environment's credential in
// place of the agent's token, the answer's beginning read while its audit event is written (nothing
// reaches the agent before it is), then sent whole or streamed with the credential redacted.
// Answers the gateway cannot check (compressed, or in a charset that hides the credential's bytes)
// are refused with 502.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { pipeline } from 'node:stream'
import type { GatewayEnvironment } from '../../providers/gateway/config.js'
import type { GatewayProvider } from '../../providers/gateway/provider.js'
import type { AuditInput } from '../audit/log.js'
import { AirlockError, err } from '../errors.js'
import {
  BodyTooLarge,
  codingOf,
  discard,
  hasBody,
  limitStream,
  readStart,
  responseHeaders,
  unreadableCharset,
  upstreamHeaders,
  wideByteOrderMark,
} from '../gateway/forward.js'
import { redactBuffer, redactStream, searchForms, type SearchForm } from '../gateway/redact.js'
import { base64Forms, credentialForms } from '../gateway/secret-forms.js'
import type { Metrics } from '../metrics.js'

/** Upstream answers complete within this size when they start are sent whole, not streamed. */
const WHOLE_BODY_BYTES = 64 * 1024

/**
 * The forms of an environment's credential to redact: as sent, inside a JSON string, URL-encoded,
 * base64, and in UTF-16 (src/gateway/secret-forms.ts).
 */
interface SecretForms {
  credential: string
  forms: SearchForm[]
}
/** The last credential of each provider and environment, so a rotated one is not kept. */
const secretForms = new Map<string, SecretForms>()
function secretsOf(where: string, credential: string): SecretForms {
  let s = secretForms.get(where)
  if (s?.credential !== credential) {
    const forms = searchForms(credentialForms(credential), base64Forms(credential), [credential])
    s = { credential, forms }
    secretForms.set(where, s)
  }
  return s
}

const joined = (chunks: Buffer[]): Buffer =>
  chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)

/** What the route decided: where the call goes, with what, and what its audit event says. */
export interface Call {
  url: URL
  env: GatewayEnvironment
  credential: string
  /** The body read whole (checked or bound), or null when it streams through (or there is none). */
  body: Buffer | null
  details: Record<string, unknown>
  actor: string
  sessionId: string
}

export function createRelay(deps: {
  metrics: Metrics
  /** Writes a gateway event; false when the audit log cannot be written. */
  record: (event: AuditInput) => Promise<boolean>
  auditDown: (what: string) => AirlockError
}) {
  const { metrics, record, auditDown } = deps

  return async function relay(
    provider: GatewayProvider,
    req: FastifyRequest,
    reply: FastifyReply,
    call: Call,
  ) {
    const cfg = provider.config
    const { url, env, credential } = call
    const secrets = secretsOf(`${provider.name}\0${env.credential}`, credential)
    const streamed = call.body === null && hasBody(req.headers)
    const headers = upstreamHeaders(req.headers, cfg, env, credential, call.body?.length ?? null)
    if (streamed && req.headers['content-length'])
      headers['content-length'] = String(req.headers['content-length'])
    const audited = (status: number, outcome: string, refused?: string) => {
      metrics.gatewayRequests.inc({ provider: provider.name, outcome })
      return record({
        type: refused === undefined ? 'gateway.forwarded' : 'gateway.refused',
        actor: call.actor,
        session_id: call.sessionId,
        details: { ...call.details, ...(refused !== undefined && { refused }), status },
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
        await audited(413, 'refused', 'body')
        throw new AirlockError('payload_too_large', `the body is over ${cfg.bodyLimitBytes} bytes`)
      }
      await audited(502, 'upstream_error')
      throw err.upstream(
        `${provider.name} did not answer within ${cfg.timeoutMs / 1000}s or cannot be reached (${(e as { code?: string }).code ?? 'error'})`,
      )
    } finally {
      metrics.gatewayUpstream.observe({ provider: provider.name }, (performance.now() - started) / 1000)
    }
    const encoding = codingOf(res.headers)
    if (encoding !== 'identity') {
      discard(res.body)
      await audited(502, 'upstream_error')
      throw err.upstream(
        `${provider.name} answered with a ${encoding}-encoded body, which the gateway cannot check`,
      )
    }
    const charset = unreadableCharset(res.headers)
    if (charset !== null) {
      discard(res.body)
      await audited(502, 'upstream_error')
      throw err.upstream(
        `${provider.name} answered in charset ${charset}, in which the gateway cannot check the body for its credential`,
      )
    }
    // The answer's beginning is read while the audit event is written; nothing reaches the agent
    // before the event is. An answer that is already complete (most are) is redacted and sent whole.
    const [start, written] = await Promise.all([
      readStart(res.body, WHOLE_BODY_BYTES).catch(() => null),
      audited(res.statusCode, 'forwarded'),
    ])
    if (!written) {
      discard(res.body)
      throw auditDown(`the answer of ${provider.name} is withheld (the call did reach it)`)
    }
    if (start === null || (!start.ended && (res.body.errored || res.body.destroyed))) {
      discard(res.body)
      throw err.upstream(`${provider.name} broke off its answer`)
    }
    if (wideByteOrderMark(start.chunks[0])) {
      discard(res.body)
      throw err.upstream(
        `${provider.name} answered in UTF-16 or UTF-32, in which the gateway cannot check the body for its credential`,
      )
    }
    reply.code(res.statusCode).headers(responseHeaders(res.headers, secrets.forms))
    // No body (HEAD, 204, 304 or empty): nothing to send, and no length that would misstate a HEAD.
    if (start.ended)
      return start.chunks.length === 0
        ? reply.send()
        : reply.send(redactBuffer(joined(start.chunks), secrets.forms))
    const out = redactStream(secrets.forms)
    for (const c of start.chunks) out.write(c)
    // A failure upstream from here on breaks the agent's connection off too.
    pipeline(res.body, out, () => {})
    return reply.send(out)
  }
}
