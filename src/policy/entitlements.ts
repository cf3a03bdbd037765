// What an agent may ask for: every environment x class x provider the policy allows, with the same
// decide() that judges a real request, so the list and the answers never disagree.
import { decide, type PolicyView } from './decide.js'

export interface Entitlement {
  environment: string
  operation_class: string
  provider: string
  approvals_required: number
  max_ttl_seconds: number
  rules: string[]
  max_ttl_rule: string | null
  eligible_approvers: string[]
}

export interface Catalogue {
  environments: Iterable<string>
  classes: Iterable<string>
  /** Provider name -> whether it serves an environment, and the longest TTL it can issue. */
  providers: Iterable<[string, { supportsEnvironment(env: string): boolean; maxTtlSeconds?: number }]>
}

export function entitlementsOf(view: PolicyView, agent: string, catalogue: Catalogue): Entitlement[] {
  const out: Entitlement[] = []
  const classes = [...catalogue.classes]
  const providers = [...catalogue.providers]
  for (const environment of catalogue.environments) {
    for (const operationClass of classes) {
      for (const [provider, p] of providers) {
        if (!p.supportsEnvironment(environment)) continue
        const d = decide(view, { agent, environment, operationClass, provider, onBehalfOf: null })
        if (!d.allow) continue
        // As a request is clamped (src/sessions/request.ts): a provider's own ceiling counts too.
        const providerMax = p.maxTtlSeconds ?? Infinity
        out.push({
          environment,
          operation_class: operationClass,
          provider,
          approvals_required: d.approvals,
          max_ttl_seconds: Math.min(d.maxTtlSeconds, providerMax),
          rules: d.rules,
          max_ttl_rule: providerMax < d.maxTtlSeconds ? `provider ${provider}` : d.ttlRule,
          eligible_approvers: d.eligibleApprovers,
        })
      }
    }
  }
  return out
}
