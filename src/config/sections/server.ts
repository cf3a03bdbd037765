// The `server` section: where the API listens, its public URL (the token issuer) and /metrics.
import type { BuildContext } from '../context.js'
import { isHttpUrl } from '../context.js'
import { DEFAULTS, ServerSchema } from '../schema.js'
import type { ServerConfig } from '../types.js'
import { parseMetrics } from './metrics.js'

export function buildServer(ctx: BuildContext): ServerConfig {
  const server = ctx.section(ServerSchema, 'server') ?? {}
  const host = server.host ?? DEFAULTS.host
  const port = server.port ?? DEFAULTS.port
  const publicUrl = server.public_url ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  if (server.public_url !== undefined && !isHttpUrl(server.public_url))
    ctx.report('server.public_url', 'expected an http:// or https:// URL')
  return {
    host,
    port,
    publicUrl,
    bodyLimitBytes: server.body_limit_bytes ?? DEFAULTS.bodyLimitBytes,
    metrics: parseMetrics(server.metrics, { host, port }, ctx.report),
  }
}
