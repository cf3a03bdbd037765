// Every error leaves in Airlock's error body (docs/api.md, "Errors"), with a code from the one
// catalogue (src/errors.ts).
// A client mistake is never a 500; a store outage is a 503; messages never carry secrets.
import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { AirlockError, ERRORS, StoreUnavailableError, type ErrorCode } from '../errors.js'
import { ReplicaAckError } from '../store/durable.js'
import { didYouMean } from '../suggest.js'

/** Each status's first code in the catalogue (403: forbidden, 409: conflict). */
const BY_STATUS = new Map<number, ErrorCode>()
for (const [code, status] of Object.entries(ERRORS) as [ErrorCode, number][])
  if (!BY_STATUS.has(status)) BY_STATUS.set(status, code)

export const JSON_ONLY = 'send the body as JSON with the header Content-Type: application/json'

type ValidationError = NonNullable<FastifyError['validation']>[number] & {
  parentSchema?: { properties?: Record<string, unknown>; 'x-too-big'?: string }
}

/** One sentence for the first schema violation, naming the field (and what was probably meant). */
function validationMessage(fe: FastifyError): string {
  const where = fe.validationContext ?? 'request'
  const first = fe.validation?.[0] as ValidationError | undefined
  if (!first) return `${where} is invalid`
  const at = first.instancePath.replace(/^\//, '').replaceAll('/', '.')
  const params = first.params as Record<string, unknown>
  if (first.keyword === 'additionalProperties') {
    const field = String(params['additionalProperty'])
    const known = Object.keys(first.parentSchema?.properties ?? {})
    const full = (f: string) => (at ? `${at}.${f}` : f)
    const hint = didYouMean(field, known).replace(/mean (.*)\?\)$/, (_m, f: string) => `mean ${full(f)}?)`)
    return `unknown ${where === 'body' ? '' : `${where} `}field '${full(field)}'${hint}`
  }
  if (first.keyword === 'required') {
    const field = String(params['missingProperty'])
    return `the ${where} is missing the required field '${at ? `${at}.${field}` : field}'`
  }
  if (first.keyword === 'maximum' && first.parentSchema?.['x-too-big']) return first.parentSchema['x-too-big']
  if (first.keyword === 'const' || first.keyword === 'enum') {
    // A union of literals fails once per literal: name them all, not "must be equal to constant".
    const allowed = (fe.validation ?? [])
      .filter((e) => e.instancePath === first.instancePath)
      .flatMap((e) => {
        const p = e.params as { allowedValue?: unknown; allowedValues?: unknown[] }
        return e.keyword === 'const' ? [p.allowedValue] : e.keyword === 'enum' ? (p.allowedValues ?? []) : []
      })
    return `${where}${first.instancePath} must be one of: ${allowed.map(String).join(', ')}`
  }
  return `${where}${first.instancePath} ${first.message ?? 'is invalid'}`
}

export function classify(e: FastifyError | AirlockError | Error): {
  status: number
  code: string
  message: string
} {
  if (e instanceof AirlockError) return { status: e.statusCode, code: e.code, message: e.message }
  if (e instanceof ReplicaAckError) {
    return {
      status: 503,
      code: 'unavailable',
      message:
        'too few Redis replicas acknowledged the change in time, so it may not survive a failover; retry',
    }
  }
  if (e instanceof StoreUnavailableError) {
    return {
      status: 503,
      code: 'unavailable',
      message: 'the session store cannot be reached; nothing was issued',
    }
  }
  const fe = e as FastifyError
  if (fe.validation) {
    return { status: 400, code: 'invalid_request', message: validationMessage(fe) }
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'payload_too_large', message: 'the request body is over the size limit' }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'unsupported_media_type', message: JSON_ONLY }
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      // fastify does not say which: broken JSON, or a __proto__ / constructor.prototype key.
      return {
        status: 400,
        code: 'invalid_request',
        message: 'the body is not valid JSON (or it has a __proto__ key)',
      }
    case 'FST_ERR_BAD_URL':
      return { status: 400, code: 'invalid_request', message: 'the URL has a malformed %-encoding' }
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'invalid_request', message: 'the JSON body is empty' }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, code: 'invalid_request', message: 'Content-Length does not match the body' }
  }
  const status = fe.statusCode ?? 500
  if (status >= 400 && status < 500) {
    const message = /prototype/i.test(e.message)
      ? 'the body may not contain __proto__ or constructor.prototype'
      : e instanceof SyntaxError
        ? 'the body is not valid JSON'
        : /encoding/i.test(e.message)
          ? 'unsupported Content-Encoding: send the body uncompressed'
          : 'the request is not valid'
    const code = BY_STATUS.get(status)
    // A 4xx the catalogue has no code for is reported as the client mistake it is: 400.
    return code ? { status, code, message } : { status: 400, code: 'invalid_request', message }
  }
  return {
    status: 500,
    code: 'internal_error',
    message: 'internal error; the request id identifies it in the log',
  }
}

export default fp(
  async (app) => {
    app.setErrorHandler((e: FastifyError | AirlockError | Error, req, reply) => {
      const { status, code, message } = classify(e)
      if (status >= 500)
        req.log.error(
          { reqId: req.id, err: { type: e.name, message: e.message, code: (e as FastifyError).code } },
          'request failed',
        )
      if (e instanceof AirlockError && e.retryAfter !== undefined)
        reply.header('retry-after', String(e.retryAfter))
      return reply.code(status).send({ error: code, message, request_id: req.id })
    })
    app.setNotFoundHandler((req, reply) =>
      reply.code(404).send({
        error: 'not_found',
        message: `no route ${req.method} ${req.url.split('?')[0]}`,
        request_id: req.id,
      }),
    )
  },
  { name: 'errors' },
)
