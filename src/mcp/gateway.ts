// gateway_request: one HTTP request through a gateway provider, with the session token that only
// this process holds. The upstream's answer is a result; Airlock's own refusal is a tool error.
import type { Usable } from './access.js'

/** Characters of a response body a result keeps. */
export const BODY_LIMIT = 16_384
const TIMEOUT_MS = 60_000

/** Airlock's own error body (docs/api.md, "Errors"), as the gateway answers a refusal. */
interface AirlockError {
  error: string
  message: string
  request_id: string
}

const isAirlockError = (v: unknown): v is AirlockError =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as AirlockError).error === 'string' &&
  typeof (v as AirlockError).message === 'string' &&
  typeof (v as AirlockError).request_id === 'string'

/** Codes only the broker itself answers with: the gateway refused, nothing reached the upstream. */
const REFUSALS = new Set([
  'unauthenticated',
  'forbidden',
  'operation_denied',
  'invalid_request',
  'upstream_error',
  'payload_too_large',
  'rate_limited',
  'unavailable',
])

/** Methods fetch will not send (the Fetch standard's forbidden methods). */
const UNSENDABLE = new Set(['CONNECT', 'TRACE', 'TRACK'])

const isJson = (s: string) => {
  try {
    JSON.parse(s)
    return true
  } catch {
    return false
  }
}

/** A grant's gateway URL: `<public_url>/gw/<provider>` (API.md, "Gateway provider"). */
const GATEWAY_URL = /^https?:\/\/[^/]+(\/.*)?\/gw\/[^/]+$/

export interface GatewayInput {
  method: string
  path: string
  body?: unknown
}

function target(base: string, path: string): URL {
  if (path !== '' && !path.startsWith('/'))
    throw new Error(`path must start with "/" (it is relative to the gateway URL): ${path}`)
  const url = new URL(base + path)
  // The gateway URL is the only place the session token may be sent.
  const root = new URL(base)
  if (url.origin !== root.origin || !`${url.pathname}/`.startsWith(`${root.pathname.replace(/\/$/, '')}/`))
    throw new Error(`path ${path} leaves the gateway URL`)
  return url
}

export async function gatewayRequest(
  use: Usable,
  input: GatewayInput,
  signal: AbortSignal,
): Promise<{ status: number; content_type: string | null; body: string; body_truncated: boolean }> {
  const base = use.grant.credentials['url']
  // A gateway grant is {url, token}: the session token itself and an http(s) URL ending in
  // /gw/<provider>; a database grant has a url too (its connection string), which is no place to
  // send requests. Fields the broker may add later (API.md: add freely) do not matter.
  if (
    typeof base !== 'string' ||
    use.grant.credentials['token'] !== use.grant.token ||
    !GATEWAY_URL.test(base)
  ) {
    throw new Error(
      `provider ${use.session.provider} is not a gateway provider (its grant has no gateway URL): use run_with_access`,
    )
  }
  const url = target(base, input.path)
  const method = input.method.toUpperCase()
  // What fetch refuses to send must not read as a gateway that did not answer: the agent would retry.
  if (UNSENDABLE.has(method))
    throw new Error(
      `method ${method} cannot be sent through gateway_request: use GET, POST, PUT, PATCH or DELETE`,
    )
  if (input.body !== undefined && (method === 'GET' || method === 'HEAD'))
    throw new Error(
      `a ${method} request cannot carry a body: send the body with POST (or another method), or put its parameters in the query string`,
    )
  const headers: Record<string, string> = { authorization: `Bearer ${use.grant.token}` }
  let body: string | undefined
  if (input.body !== undefined) {
    body = typeof input.body === 'string' ? input.body : JSON.stringify(input.body)
    headers['content-type'] =
      typeof input.body !== 'string' || isJson(body) ? 'application/json' : 'text/plain'
  }
  let res: Response
  try {
    res = await fetch(url, {
      method,
      headers,
      ...(body !== undefined && { body }),
      redirect: 'manual', // a redirect must not carry the token anywhere else
      signal: AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)]),
    })
  } catch (e) {
    if (signal.aborted) throw e
    throw new Error(
      // fetch may quote a header's value in its error: the session token never leaves unredacted.
      `the gateway at ${url.origin} did not answer: ${use.redactor.redact(String((e as Error).cause ?? (e as Error).message))}`,
    )
  }
  const text = await res.text()
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  if (res.status >= 400 && isAirlockError(parsed) && REFUSALS.has(parsed.error)) {
    throw new Error(`${use.redactor.redact(parsed.message)} (${parsed.error})`)
  }
  const redacted = use.redactor.redact(text)
  return {
    status: res.status,
    content_type: res.headers.get('content-type'),
    body: redacted.slice(0, BODY_LIMIT),
    body_truncated: redacted.length > BODY_LIMIT,
  }
}
