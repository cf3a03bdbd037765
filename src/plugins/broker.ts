// Decorates the app with the broker's services; routes reach them as `app.broker`.
import fp from 'fastify-plugin'
import type { AuditLog } from '../audit/log.js'
import type { LockService } from '../locks/service.js'
import type { Metrics } from '../metrics.js'
import type { Runtime } from '../runtime.js'
import type { SessionService } from '../sessions/service.js'
import type { Store } from '../store/types.js'
import type { TokenService } from '../tokens/tokens.js'
import type { Clock } from '../clock.js'
import type { Keyring } from '../vault/keyring.js'
import type { Vault } from '../vault/vault.js'
import type { ApprovalService } from '../approvals/service.js'
import type { SlackSide } from '../slack/wiring.js'
import type { Counter } from '../ratelimit/index.js'

export interface Broker {
  runtime: () => Runtime
  store: Store
  sessions: SessionService
  locks: LockService
  tokens: TokenService
  audit: AuditLog
  metrics: Metrics
  clock: Clock
  /** Null when no master key is configured. */
  vault: Vault | null
  /** Null when tokens.signing_key pins the key. */
  keyring: Keyring | null
  // The approval flow: decisions and claims, and the Slack side (inert without `slack`).
  approvals: ApprovalService
  slack: SlackSide
  /** Gateway calls per session this minute (a gateway provider's calls_per_minute). */
  gatewayCalls: Counter
}

declare module 'fastify' {
  interface FastifyInstance {
    broker: Broker
  }
}

export default fp<{ broker: Broker }>(
  async (app, opts) => {
    app.decorate('broker', opts.broker)
  },
  { name: 'broker' },
)
