// The `policies` section: who may have what, with how many approvals, checked against the names
// the other sections define; the load-time half of the two-person rule.
import type { Static } from '@sinclair/typebox'
import { matches } from '../../glob.js'
import type { BuildContext } from '../context.js'
import { PolicySchema } from '../schema.js'
import type { PolicyRule } from '../types.js'
import { approverIds } from './principals.js'

const MATCHER_NOUN = {
  agents: 'agent',
  environments: 'environment',
  operation_classes: 'operation class',
  providers: 'provider',
} as const

interface PolicyContext {
  known: Record<keyof typeof MATCHER_NOUN, Set<string> | null>
  humanIds: Set<string> | null
  approverIds: Set<string>
  destructiveClasses: string[]
}

export function buildPolicies(ctx: BuildContext, destructiveClasses: string[]): PolicyRule[] {
  const pc: PolicyContext = {
    known: {
      agents: ctx.names('agents', 'id'),
      environments: ctx.names('environments', 'name'),
      operation_classes: ctx.names('operation_classes', 'name'),
      providers: ctx.names('providers', 'name'),
    },
    humanIds: ctx.names('humans', 'id'),
    approverIds: approverIds(ctx),
    destructiveClasses,
  }
  return ctx.items(PolicySchema, 'policies').map(([p, i]) => buildPolicy(p, i, pc, ctx))
}

function buildPolicy(
  p: Static<typeof PolicySchema>,
  i: number,
  pc: PolicyContext,
  ctx: BuildContext,
): PolicyRule {
  const at = `policies[${i}]`
  for (const key of ['agents', 'environments', 'operation_classes', 'providers'] as const) {
    p[key].forEach((m, k) => {
      if (!m.includes('*') && pc.known[key]?.has(m) === false)
        ctx.report(`${at}.${key}[${k}]`, `unknown ${MATCHER_NOUN[key]} '${m}'`)
    })
  }
  p.approvers?.forEach((h, k) => {
    if (!pc.humanIds) return
    if (!pc.humanIds.has(h)) ctx.report(`${at}.approvers[${k}]`, `unknown human '${h}'`)
    else if (!pc.approverIds.has(h))
      ctx.report(`${at}.approvers[${k}]`, `human '${h}' does not have the approver role`)
  })
  const effect = p.effect ?? 'allow'
  const approvals = p.approvals ?? 0
  // The load-time half of the two-person rule (the decision enforces max(N, 2) again).
  if (effect === 'allow' && approvals < 2) {
    // The same matcher as the runtime decision, so the load-time check and decide() never disagree.
    const hit = pc.destructiveClasses.find((c) => p.operation_classes.some((m) => matches(m, c)))
    if (hit !== undefined)
      ctx.report(`${at}.approvals`, `destructive class '${hit}' needs at least 2 approvals`)
  }
  return {
    index: i,
    description: p.description ?? at,
    effect,
    agents: p.agents,
    environments: p.environments,
    operationClasses: p.operation_classes,
    providers: p.providers,
    approvals,
    approvers: p.approvers ?? null,
    maxTtlSeconds: p.max_ttl === undefined ? null : ctx.ttlSeconds(`${at}.max_ttl`, p.max_ttl),
  }
}
