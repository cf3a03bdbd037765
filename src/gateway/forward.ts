// What crosses the gateway besides the checks: the request headers passed on (a short allow-list,
// the upstream credential in place of the agent's token), request bodies read or streamed within
// the limit, and the response headers that come back (hop-by-hop dropped, the credential redacted).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { Transform } from 'node:stream'
import type { GatewayConfig, GatewayEnvironment } from '../../providers/gateway/config.js'
import { redactText } from './redact.js'

/** Passed on from every request; the config's forward_headers add to them. */
const PASSED = ['content-type', 'accept', 'user-agent']
/** RFC 9110 7.6.1, and what they name: never relayed in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
])

export class BodyTooLarge extends Error {
  constructor() {
    super('the request body is over the gateway limit')
    this.name = 'BodyTooLarge'
  }
}

/** The headers sent upstream: the allow-list, the environment's credential, no compression. */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  cfg: GatewayConfig,
  env: GatewayEnvironment,
  credential: string,
  bodyLength: number | null,
): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of [...PASSED, ...cfg.forwardHeaders]) {
    const v = incoming[name]
    if (typeof v === 'string') out[name] = v
    else if (Array.isArray(v)) out[name] = v.join(', ')
  }
  // The body is scanned for the credential on its way back, so it must arrive uncompressed.
  out['accept-encoding'] = 'identity'
  out[env.header] = env.header === 'authorization' ? `Bearer ${credential}` : credential
  if (bodyLength !== null) out['content-length'] = String(bodyLength)
  return out
}

/** The upstream's response headers for the agent: hop-by-hop and framing dropped, secrets redacted. */
export function responseHeaders(
  headers: Record<string, string | string[] | undefined>,
  secrets: string[],
): Record<string, string | string[]> {
  const connection = String(headers['connection'] ?? '')
    .toLowerCase()
    .split(',')
    .map((s) => s.trim())
  const out: Record<string, string | string[]> = {}
  for (const [name, v] of Object.entries(headers)) {
    // Redaction can change the length, so the body goes out chunked.
    if (v === undefined || HOP_BY_HOP.has(name) || connection.includes(name) || name === 'content-length')
      continue
    out[name] = Array.isArray(v) ? v.map((x) => redactText(x, secrets)) : redactText(v, secrets)
  }
  return out
}

/** Reads a whole request body; throws BodyTooLarge past `limit` bytes. */
export async function readBody(raw: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of raw as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) {
      raw.resume()
      throw new BodyTooLarge()
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** Passes a streamed body through, failing with BodyTooLarge past `limit` bytes. */
export function limitStream(limit: number): Transform {
  let size = 0
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length
      if (size > limit) cb(new BodyTooLarge())
      else cb(null, chunk)
    },
  })
}

/** Whether a request carries a body (RFC 9112 6.3). */
export const hasBody = (h: IncomingHttpHeaders): boolean =>
  h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')
