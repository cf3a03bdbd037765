// Everything derived from the config file. SIGHUP builds a new Runtime and swaps it in whole, so
// a request sees either the old config or the new one, never a mix.
import type { FastifyBaseLogger } from 'fastify'
import { providerRegistry } from '../providers/registry.js'
import type { Provider, ProviderType, SecretSource, Sealer } from '../providers/types.js'
import { createAuthenticator, type Authenticator } from './auth/authenticate.js'
import type { Clock } from './clock.js'
import type { AgentConfig, AirlockConfig, HumanConfig } from './config/types.js'
import type { PolicyView } from './policy/decide.js'
import type { ProviderStateFactory } from './store/provider-state.js'

export interface Runtime {
  config: AirlockConfig
  providers: Map<string, Provider>
  authenticate: Authenticator
  policy: PolicyView
  agents: Map<string, AgentConfig>
  humans: Map<string, HumanConfig>
  environments: Set<string>
  classes: Set<string>
}

/**
 * Whether a human has a channel to approve through: an API key, a Slack id while Slack is
 * configured, or a console OIDC sign-in (an email or subject to match) while the console has OIDC.
 */
export const canAct = (h: HumanConfig, config: AirlockConfig): boolean =>
  h.apiKeySha256 !== null ||
  (config.slack !== null && h.slackUserId !== null) ||
  (config.console?.oidc != null && (h.email !== null || h.oidcSubject !== null))

export async function buildRuntime(
  config: AirlockConfig,
  deps: {
    clock: Clock
    log: FastifyBaseLogger
    instanceId: string
    secrets: SecretSource
    /** Shared provider state (ProviderContext.state), keyed by provider name. */
    providerState: ProviderStateFactory
    /** Marks sessions revoked that a provider cut off wholesale (ProviderContext.onMassRevocation). */
    onMassRevocation: (provider: string, sessionIds: string[], reason: string) => Promise<string[]>
    /** The vault's sealer (ProviderContext.sealer); null without a vault. */
    sealer?: Sealer | null
  },
): Promise<Runtime> {
  const providers = new Map<string, Provider>()
  for (const p of config.providers) {
    const fns = providerRegistry[p.type as ProviderType]
    const provider = fns.create(p.options, {
      name: p.name,
      instanceId: deps.instanceId,
      secrets: deps.secrets,
      log: deps.log.child({ provider: p.name }),
      clock: deps.clock,
      state: deps.providerState(p.name),
      onMassRevocation: (ids, reason) => deps.onMassRevocation(p.name, ids, reason),
      sealer: deps.sealer ?? null,
    })
    // A provider that cannot prepare now still starts: it reports unhealthy and its requests 503.
    await provider
      .setup()
      .catch((e: unknown) =>
        deps.log.warn({ provider: p.name, err: (e as Error).message }, 'provider setup failed'),
      )
    providers.set(p.name, provider)
  }
  return {
    config,
    providers,
    authenticate: createAuthenticator(config, deps.clock),
    policy: {
      policies: config.policies,
      operationClasses: config.operationClasses,
      humans: config.humans,
      agents: config.agents,
      maxTtlSeconds: config.tokens.maxTtlSeconds,
      unreachable: new Set(config.humans.filter((h) => !canAct(h, config)).map((h) => h.id)),
    },
    agents: new Map(config.agents.map((a) => [a.id, a])),
    humans: new Map(config.humans.map((h) => [h.id, h])),
    environments: new Set(config.environments.map((e) => e.name)),
    classes: new Set(config.operationClasses.map((c) => c.name)),
  }
}
