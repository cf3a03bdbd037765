// Policy decision for a session request. Pure: no I/O, no clock, no mutation of its inputs, so the
// same (config, request) always yields the same answer and the approval route can re-run it.
import type { AgentConfig, HumanConfig, OperationClassConfig, PolicyRule } from '../config/types.js'
import { matches } from '../glob.js'

export interface DecisionInput {
  agent: string
  environment: string
  operationClass: string
  provider: string
  onBehalfOf: string | null
}

/** The slice of AirlockConfig a decision needs. */
export interface PolicyView {
  policies: PolicyRule[]
  operationClasses: OperationClassConfig[]
  humans: HumanConfig[]
  agents: AgentConfig[]
  /** tokens.max_ttl: the global ceiling. */
  maxTtlSeconds: number
  /**
   * Humans with no way to act on a request (no API key, no Slack id with Slack configured, no
   * console sign-in): never counted as eligible, so a request nobody can approve is refused at once.
   */
  unreachable?: ReadonlySet<string>
}

export type Decision =
  | { allow: false; reason: string; rule: string | null }
  | {
      allow: true
      reason: string
      /** Descriptions of every matching allow rule, in file order. */
      rules: string[]
      approvals: number
      maxTtlSeconds: number
      /** The rule whose max_ttl sets maxTtlSeconds; null when it is tokens.max_ttl. */
      ttlRule: string | null
      eligibleApprovers: string[]
    }

/** Whether the operation class `name` is marked `destructive: true` (an unknown class is not). */
export const isDestructive = (classes: readonly OperationClassConfig[], name: string): boolean =>
  classes.some((c) => c.name === name && c.destructive)

/** Minimum approvals for a `destructive: true` class, whatever a rule says (docs/configuration.md). */
export const DESTRUCTIVE_MIN_APPROVALS = 2

// An empty list matches nothing: a rule must opt in to every dimension explicitly.
const anyMatch = (patterns: readonly string[], value: string): boolean =>
  patterns.some((pattern) => matches(pattern, value))

function ruleMatches(rule: PolicyRule, input: DecisionInput): boolean {
  return (
    anyMatch(rule.agents, input.agent) &&
    anyMatch(rule.environments, input.environment) &&
    anyMatch(rule.operationClasses, input.operationClass) &&
    anyMatch(rule.providers, input.provider)
  )
}

export function decide(view: PolicyView, input: DecisionInput): Decision {
  const matching = view.policies.filter((rule) => ruleMatches(rule, input))

  const deny = matching.find((rule) => rule.effect === 'deny')
  if (deny) return { allow: false, reason: `denied by policy "${deny.description}"`, rule: deny.description }

  const allows = matching.filter((rule) => rule.effect === 'allow')
  const first = allows[0]
  if (!first) {
    const { agent, operationClass, environment, provider } = input
    return {
      allow: false,
      reason: `no rule lets ${agent} use ${operationClass} on ${environment} with ${provider}`,
      rule: null,
    }
  }

  // The strictest rule is the one demanding the most approvals (first in file order on a tie).
  let strictest = first
  for (const rule of allows) if (rule.approvals > strictest.approvals) strictest = rule

  // Re-checked here, not only at config load, so a hand-built or stale config cannot weaken it.
  const destructive = isDestructive(view.operationClasses, input.operationClass)
  const ruled = Math.max(0, strictest.approvals)
  const approvals = destructive ? Math.max(ruled, DESTRUCTIVE_MIN_APPROVALS) : ruled

  let maxTtlSeconds = view.maxTtlSeconds
  let ttlRule: string | null = null
  for (const rule of allows) {
    if (rule.maxTtlSeconds !== null && rule.maxTtlSeconds < maxTtlSeconds) {
      maxTtlSeconds = rule.maxTtlSeconds
      ttlRule = rule.description
    }
  }

  // Nobody approves their own agent's request or one made on their behalf.
  const excluded = new Set(view.agents.find((a) => a.id === input.agent)?.owners ?? [])
  if (input.onBehalfOf !== null) excluded.add(input.onBehalfOf)
  const lists = allows.flatMap((rule) => (rule.approvers === null ? [] : [rule.approvers]))
  const listed = view.humans
    .filter((h) => h.roles.includes('approver') && !excluded.has(h.id))
    .filter((h) => lists.every((list) => list.includes(h.id)))
    .map((h) => h.id)
  const eligibleApprovers = listed.filter((id) => !view.unreachable?.has(id))

  if (eligibleApprovers.length < approvals) {
    const silent = listed.filter((id) => view.unreachable?.has(id))
    const why = silent.length
      ? ` (${silent.join(', ')} ${silent.length === 1 ? 'has' : 'have'} no API key, Slack id or console sign-in to approve with)`
      : ''
    return {
      allow: false,
      reason: `needs ${approvals} approvals but only ${eligibleApprovers.length} eligible approver(s) exist for ${input.agent}${why}`,
      rule: strictest.description,
    }
  }

  const rules = allows.map((rule) => rule.description)
  const by = `allowed by ${rules.map((d) => `"${d}"`).join(', ')}`
  const reason = approvals === 0 ? by : `${by}; needs ${approvals} approval${approvals === 1 ? '' : 's'}`
  return { allow: true, reason, rules, approvals, maxTtlSeconds, ttlRule, eligibleApprovers }
}
