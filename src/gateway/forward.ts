// What crosses the gateway besides the checks: the request headers passed on (a short allow-list,
// the upstream credential in place of the agent's token), request bodies read or streamed within
// the limit, and the response headers that come back (hop-by-hop dropped, the credential redacted).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { Transform, type Readable } from 'node:stream'
import type { GatewayConfig, GatewayEnvironment } from '../../providers/gateway/config.js'
import { namedCharsets } from './charset.js'
import { redactText, type SearchForm } from './redact.js'

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
  const pass = (name: string) => {
    const v = incoming[name]
    if (typeof v === 'string') out[name] = v
    else if (Array.isArray(v)) out[name] = v.join(', ')
  }
  for (const name of PASSED) pass(name)
  for (const name of cfg.forwardHeaders) pass(name)
  // The body is scanned for the credential on its way back, so it must arrive uncompressed.
  out['accept-encoding'] = 'identity'
  out[env.header] = env.header === 'authorization' ? `Bearer ${credential}` : credential
  if (bodyLength !== null) out['content-length'] = String(bodyLength)
  return out
}

/** The upstream's response headers for the agent: hop-by-hop and framing dropped, secrets redacted. */
export function responseHeaders(
  headers: Record<string, string | string[] | undefined>,
  secrets: SearchForm[],
): Record<string, string | string[]> {
  const named = headers['connection']
  const connection =
    named === undefined
      ? null
      : String(named)
          .toLowerCase()
          .split(',')
          .map((s) => s.trim())
  const out: Record<string, string | string[]> = {}
  for (const name in headers) {
    const v = headers[name]
    // Redaction can change the length, so the body goes out chunked.
    if (
      v === undefined ||
      HOP_BY_HOP.has(name) ||
      connection?.includes(name) === true ||
      name === 'content-length'
    )
      continue
    out[name] = Array.isArray(v) ? v.map((x) => redactText(x, secrets)) : redactText(v, secrets)
  }
  return out
}

/** Reads a whole request body; throws BodyTooLarge past `limit` bytes. */
export function readBody(raw: IncomingMessage, limit: number): Promise<Buffer> {
  // Events, not an async iterator: a promise per chunk is most of the cost of a small body.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = (e: Error | null) => {
      raw.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose)
      if (e) reject(e)
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size))
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= limit) chunks.push(chunk)
      else {
        done(new BodyTooLarge())
        raw.resume()
      }
    }
    const onEnd = () => done(null)
    const onError = (e: Error) => done(e)
    // Closed before its end: the client went away mid-body.
    const onClose = () => done(new Error('the request body was cut short'))
    raw.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose)
  })
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

/**
 * The beginning of a response body: what arrives until the event loop turns once with nothing
 * more (or past `limit` bytes), and whether that was all of it. The body is left paused when not;
 * a failure meanwhile shows as `body.errored` or `body.destroyed`.
 */
export function readStart(body: Readable, limit: number): Promise<{ chunks: Buffer[]; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let turn: NodeJS.Immediate | null = null
    const off = () => {
      if (turn) clearImmediate(turn)
      body.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose)
    }
    const settle = (ended: boolean) => {
      off()
      if (!ended) {
        body.pause()
        // Until the caller takes the rest, a failure is kept (body.errored), not thrown.
        body.once('error', () => {})
      }
      resolve({ chunks, ended })
    }
    const onData = (c: Buffer) => {
      chunks.push(c)
      size += c.length
      if (size > limit) settle(false)
      else turn ??= setImmediate(() => settle(false))
    }
    const onEnd = () => settle(true)
    const onError = (e: Error) => {
      off()
      reject(e)
    }
    const onClose = () => onError(new Error('the upstream answer was cut short'))
    body.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose)
  })
}

/** Drops an upstream answer unread: its abort error must not go unhandled, which ends the process. */
export const discard = (body: Readable): void => {
  body.on('error', () => {})
  body.destroy()
}

/**
 * How the answer's bytes are coded besides chunking: its Content-Encoding, or a transfer coding
 * (`gzip, chunked`) that the client leaves in place. 'identity' when they are plain.
 */
export function codingOf(headers: Record<string, string | string[] | undefined>): string {
  const content = String(headers['content-encoding'] ?? 'identity').toLowerCase()
  if (content !== 'identity') return content
  const transfer = String(headers['transfer-encoding'] ?? '')
    .toLowerCase()
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '' && c !== 'chunked' && c !== 'identity')
  return transfer.length > 0 ? transfer.join(', ') : 'identity'
}

/**
 * Charsets in which the credential's ASCII is not written as ASCII bytes (UTF-16 and UTF-32 with
 * their NULs, UTF-7's `+...-` runs, EBCDIC): the redactor, which looks for those bytes, would not
 * see it. The answer's declared charset when it is one of them, else null.
 */
const UNREADABLE_CHARSET =
  /^(utf-?(7|16|32)|ucs-?[24]|unicode|csunicode|x-utf-16|(cp|ibm)-?0?(37|273|500|1047|1140)|ebcdic)/
export function unreadableCharset(headers: Record<string, string | string[] | undefined>): string | null {
  const type = headers['content-type']
  const named = namedCharsets(Array.isArray(type) ? type.join(',') : (type ?? ''))
  return named.map((c) => c.toLowerCase()).find((c) => UNREADABLE_CHARSET.test(c)) ?? null
}

/** Whether an answer starts with a UTF-16 or UTF-32 byte order mark (it declared no such charset). */
export const wideByteOrderMark = (start: Buffer | undefined): boolean =>
  start !== undefined &&
  start.length >= 2 &&
  ((start[0] === 0xff && start[1] === 0xfe) ||
    (start[0] === 0xfe && start[1] === 0xff) ||
    (start.length >= 4 && start[0] === 0 && start[1] === 0 && start[2] === 0xfe && start[3] === 0xff))
