// The logger. Secret-bearing fields are redacted wherever they appear; API keys and tokens only
// ever travel in headers and bodies, which are not logged.
import pino, { type DestinationStream, type Logger } from 'pino'
import { scrub } from './scrub.js'

/** Field names whose values are secrets, redacted at the top level and two levels down. */
const SECRET_FIELDS = [
  'token',
  'password',
  'secret',
  'secret_access_key',
  'session_token',
  'credentials',
  'api_key',
  'signing_key',
  'bot_token',
  'signing_secret',
  'master_key',
  'connection',
]

export const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-slack-signature"]',
  'headers.authorization',
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
]

export function scrubbedError(v: unknown): unknown {
  if (typeof v === 'string') return scrub(v)
  if (v instanceof Error) return { type: v.name, message: scrub(v.message) }
  if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') {
    return { ...(v as object), message: scrub((v as { message: string }).message) }
  }
  return v
}

export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env['AIRLOCK_LOG_LEVEL'] ?? 'info',
      redact: { paths: REDACT, censor: '[redacted]' },
      // Redaction works on field names; error text can quote a URL or a key anywhere inside it,
      // so every err/error field passes through the one scrubber, whoever logs it.
      serializers: { err: scrubbedError, error: scrubbedError },
      base: { service: 'airlock' },
    },
    opts.destination ?? pino.destination(2),
  )
}
