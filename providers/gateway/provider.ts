// The gateway provider: Airlock keeps an API's blanket token and forwards, through /gw/{provider},
// only the calls the session's environment and class allow (src/gateway, src/routes/gateway.ts).
// Nothing exists outside Airlock: the grant is the session token and the gateway URL.
import { err } from '../../src/errors.js'
import { Agent } from 'undici'
import { rotationCovers, type Provider, type ProviderContext } from '../types.js'
import type { GatewayConfig } from './config.js'

export interface GatewayProvider extends Provider {
  readonly type: 'gateway'
  readonly config: GatewayConfig
  /** Pooled, TLS-verifying connections to the upstreams (one pool per origin). */
  readonly dispatcher: Agent
  /** The environment's upstream credential: resolved once, again after its secret rotates. */
  credential(environment: string): Promise<string>
}

export const isGateway = (p: Provider | undefined): p is GatewayProvider => p?.type === 'gateway'

export function createGatewayProvider(config: GatewayConfig, ctx: ProviderContext): GatewayProvider {
  const dispatcher = new Agent({
    connections: 128,
    keepAliveTimeout: 10_000,
    connect: { rejectUnauthorized: true, timeout: Math.min(config.timeoutMs, 10_000) },
    headersTimeout: config.timeoutMs,
    bodyTimeout: config.timeoutMs,
  })
  const cache = new Map<string, Promise<string>>()

  return {
    name: ctx.name,
    type: 'gateway',
    audience: ctx.name,
    external: false,
    config,
    dispatcher,
    supportsEnvironment: (env) => Object.hasOwn(config.environments, env),
    setup: async () => {},
    issue: async () => ({ credentials: {}, handle: {} }),
    grantCredentials: (token, publicUrl) => ({
      url: `${publicUrl.replace(/\/+$/, '')}/gw/${ctx.name}`,
      token,
    }),
    revoke: async () => {},
    reap: async () => 0,
    health: async () => ({ ok: true, error: null }),
    credential(environment) {
      const env = config.environments[environment]
      if (!env) return Promise.reject(err.unavailable(`environment ${environment} is not configured`))
      let p = cache.get(environment)
      if (!p) {
        p = ctx.secrets.resolve(env.credential)
        cache.set(environment, p)
        // A failed read is not remembered: the next call tries again.
        p.catch(() => cache.delete(environment))
      }
      return p
    },
    async secretRotated(changed) {
      for (const [name, env] of Object.entries(config.environments))
        if (rotationCovers(changed, env.credential)) cache.delete(name)
    },
    close: () => dispatcher.close(),
  }
}
