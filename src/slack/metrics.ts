// Slack and approval metrics, on the broker's registry (so /metrics serves them).
import { Counter, Gauge, type Registry } from 'prom-client'

export function createSlackMetrics(registry: Registry) {
  const r = [registry]
  return {
    calls: new Counter({
      name: 'airlock_slack_calls_total',
      help: 'Slack Web API calls by method and result (ok, retry: failed and queued again, dropped: failed for good)',
      labelNames: ['method', 'result'],
      registers: r,
    }),
    failures: new Counter({
      name: 'airlock_slack_failures_total',
      help: 'Slack Web API calls that failed (alert when rising: approvers may not see requests)',
      labelNames: ['method'],
      registers: r,
    }),
    backlog: new Gauge({
      name: 'airlock_slack_backlog',
      help: 'Slack messages waiting to be posted or updated',
      registers: r,
    }),
    interactions: new Counter({
      name: 'airlock_slack_interactions_total',
      help: 'Slack button clicks by outcome (applied, refused, rejected: bad signature or payload, unavailable: no signing secret yet)',
      labelNames: ['outcome'],
      registers: r,
    }),
  }
}

export type SlackMetrics = ReturnType<typeof createSlackMetrics>
