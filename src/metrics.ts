// Prometheus metrics, one registry per broker (tests run several brokers in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export function createMetrics(opts: { defaults?: boolean } = {}) {
  const registry = new Registry()
  if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: 'airlock_' })
  const r = [registry]
  return {
    registry,
    requests: new Counter({
      name: 'airlock_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: r,
    }),
    latency: new Histogram({
      name: 'airlock_http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: r,
    }),
    issued: new Counter({
      name: 'airlock_sessions_issued_total',
      help: 'Grants issued',
      labelNames: ['provider', 'operation_class'],
      registers: r,
    }),
    requested: new Counter({
      name: 'airlock_sessions_pending_total',
      help: 'Requests that started pending approval',
      registers: r,
    }),
    denied: new Counter({
      name: 'airlock_sessions_denied_total',
      help: 'Requests refused by policy or lock',
      labelNames: ['reason'],
      registers: r,
    }),
    revoked: new Counter({ name: 'airlock_sessions_revoked_total', help: 'Sessions revoked', registers: r }),
    expired: new Counter({ name: 'airlock_sessions_expired_total', help: 'Sessions expired', registers: r }),
    introspections: new Counter({
      name: 'airlock_introspections_total',
      help: 'Token introspections by result',
      labelNames: ['active'],
      registers: r,
    }),
    auditFailures: new Counter({
      name: 'airlock_audit_write_failures_total',
      help: 'Audit batches that could not be written',
      registers: r,
    }),
    revocationFailures: new Counter({
      name: 'airlock_revocation_failures_total',
      help: 'Provider revocations that failed and were queued for retry (alert when rising)',
      labelNames: ['provider'],
      registers: r,
    }),
    revocationBacklog: new Gauge({
      name: 'airlock_revocations_pending',
      help: 'Revocations waiting to be retried (alert when above 0 for long)',
      registers: r,
    }),
    replicaAckShortfalls: new Counter({
      name: 'airlock_store_replica_ack_shortfalls_total',
      help: 'Writes answered 503 because fewer Redis replicas than store.replica_acks acknowledged them in time',
      registers: r,
    }),
    expiryBacklog: new Gauge({
      name: 'airlock_expiry_backlog',
      help: 'Sessions past their deadline that the sweeper has not expired yet',
      registers: r,
    }),
    expiryOldestOverdue: new Gauge({
      name: 'airlock_expiry_oldest_overdue_seconds',
      help: 'How long the oldest session past its deadline has waited for expiry (alert when above 30)',
      registers: r,
    }),
    gatewayRequests: new Counter({
      name: 'airlock_gateway_requests_total',
      help: 'Gateway calls by provider and outcome (forwarded, refused, unauthenticated, unavailable, upstream_error)',
      labelNames: ['provider', 'outcome'],
      registers: r,
    }),
    gatewayUpstream: new Histogram({
      name: 'airlock_gateway_upstream_seconds',
      help: 'Time from forwarding a gateway call to the upstream answer headers, by provider',
      labelNames: ['provider'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
      registers: r,
    }),
    live: new Gauge({ name: 'airlock_sessions_live', help: 'Unfinished sessions', registers: r }),
    pending: new Gauge({
      name: 'airlock_sessions_pending',
      help: 'Sessions waiting for approval',
      registers: r,
    }),
    secretsUnresolved: new Gauge({
      name: 'airlock_config_secrets_unresolved',
      help: 'Config secrets (vault: references) that have no usable value yet, by field: their feature is off (alert when 1)',
      labelNames: ['field'],
      registers: r,
    }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>
