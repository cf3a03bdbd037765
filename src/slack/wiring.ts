// Builds the Slack side of a broker: the outbox (in the broker's backend), the notifier and
// its metrics. Without a `slack` section in the config every part is inert and approvals work over
// the API alone; a config reload that adds or removes the section takes effect at once.
import type { FastifyBaseLogger } from 'fastify'
import type { Backend } from '../backend.js'
import type { AuditLog } from '../audit/log.js'
import type { Clock } from '../clock.js'
import type { Metrics } from '../metrics.js'
import type { Runtime } from '../runtime.js'
import type { SessionStore } from '../store/types.js'
import { createSlackMetrics, type SlackMetrics } from './metrics.js'
import { createSlackNotifier, type NotifierDeps, type SlackNotifier } from './notifier.js'
import { createSlackOutbox, type SlackOutbox } from './outbox.js'

export interface SlackSide {
  notifier: SlackNotifier
  outbox: SlackOutbox
  metrics: SlackMetrics
}

export function createSlackSide(deps: {
  backend: Backend
  store: Pick<SessionStore, 'getSession'>
  runtime: () => Runtime
  audit: AuditLog
  clock: Clock
  log: FastifyBaseLogger
  metrics: Metrics
  retry?: NotifierDeps['retry']
}): SlackSide {
  const outbox = createSlackOutbox(deps.backend)
  const metrics = createSlackMetrics(deps.metrics.registry)
  const notifier = createSlackNotifier({
    outbox,
    store: deps.store,
    runtime: deps.runtime,
    audit: deps.audit,
    clock: deps.clock,
    log: deps.log,
    metrics,
    retry: deps.retry,
  })
  return { notifier, outbox, metrics }
}
