// The logger. Secret-bearing fields are redacted wherever they appear; API keys and tokens only
// ever travel in headers and bodies, which are not logged.
import pino, { type DestinationStream, type Logger } from 'pino'

export const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-slack-signature"]',
  'headers.authorization',
  '*.token',
  '*.password',
  '*.secret',
  '*.secret_access_key',
  '*.session_token',
  '*.credentials',
  '*.api_key',
  '*.signing_key',
  '*.bot_token',
  '*.signing_secret',
  '*.master_key',
  '*.connection',
]

export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env['AIRLOCK_LOG_LEVEL'] ?? 'info',
      redact: { paths: REDACT, censor: '[redacted]' },
      base: { service: 'airlock' },
    },
    opts.destination ?? pino.destination(2),
  )
}
