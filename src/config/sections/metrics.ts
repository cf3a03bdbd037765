// server.metrics: who may read /metrics. Prometheus output names routes, agents' request counts and
// provider failures, so by default it needs an operator's bearer; `public` is the old open route,
// and `{ listen: "host:port" }` serves it only on a second address (e.g. a loopback or an
// internal interface Prometheus reaches) and not on the API port at all.
import type { MetricsConfig } from '../types.js'

export const METRICS_DEFAULT: MetricsConfig = { mode: 'operator' }

export type RawMetrics = 'public' | 'operator' | { listen: string }

const HOST_PORT_RE = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/

export function parseMetrics(
  raw: RawMetrics | undefined,
  api: { host: string; port: number },
  report: (path: string, message: string) => void,
): MetricsConfig {
  if (raw === undefined) return METRICS_DEFAULT
  if (raw === 'public' || raw === 'operator') return { mode: raw }
  const m = HOST_PORT_RE.exec(raw.listen)
  const port = Number(m?.[3])
  if (!m || port > 65_535) {
    report('server.metrics.listen', 'expected host:port, like 127.0.0.1:9464 or [::1]:9464')
    return METRICS_DEFAULT
  }
  const host = (m[1] ?? m[2]) as string
  if (port !== 0 && port === api.port && (host === api.host || host === '0.0.0.0' || api.host === '0.0.0.0'))
    report('server.metrics.listen', `is the API's own address (server.port ${api.port}): pick another port`)
  return { mode: 'listen', host, port }
}
