// From the parsed YAML to the resolved AirlockConfig: one builder per section (sections/), each
// reading only what passed the schema (the rest is reported already) and reporting what a schema
// cannot say. A new section gets its schema in schema.ts, its type in types.ts and a builder here.
import { providerRegistry } from '../../providers/registry.js'
import { buildContext, duplicates, type ParseOptions, type Report } from './context.js'
import { buildApprovals } from './sections/approvals.js'
import { buildConsole } from './sections/console.js'
import { buildAudit } from './sections/audit.js'
import { buildEnvironments, buildOperationClasses, destructiveClasses } from './sections/environments.js'
import { buildPolicies } from './sections/policies.js'
import { buildAgents, buildHumans, buildResourceServers, crossKindChecks } from './sections/principals.js'
import { buildProviders } from './sections/providers.js'
import { buildRateLimits } from './sections/rate-limits.js'
import { buildServer } from './sections/server.js'
import { buildSlack } from './sections/slack.js'
import { buildStore } from './sections/store.js'
import { buildTokens } from './sections/tokens.js'
import { buildVault } from './sections/vault.js'
import type { AirlockConfig } from './types.js'

/** Lists whose elements are named, and what a repeated name is called. */
const NAMED_LISTS = [
  ['environments', 'name', 'environment'],
  ['operation_classes', 'name', 'operation class'],
  ['agents', 'id', 'agent id'],
  ['humans', 'id', 'human id'],
  ['resource_servers', 'id', 'resource server id'],
  ['providers', 'name', 'provider name'],
] as const

export function build(raw: Record<string, unknown>, opts: ParseOptions, report: Report): AirlockConfig {
  const ctx = buildContext(raw, opts, report)
  for (const [key, field, what] of NAMED_LISTS) {
    const names = ctx.rawField(key, field)
    duplicates(names, (i, j, n) =>
      report(`${key}[${i}].${field}`, `duplicate ${what} '${n}' (also ${key}[${j}])`),
    )
    // Names are matched exactly (owners, approver lists, locks, policies), so `Alice` next to
    // `alice` would be a second identity for one person, or a `prod` lock that misses `Prod`.
    const seen = new Map<string, number>()
    names.forEach((n, i) => {
      if (n === null) return
      const j = seen.get(n.toLowerCase())
      if (j === undefined) seen.set(n.toLowerCase(), i)
      else if (names[j] !== n)
        report(
          `${key}[${i}].${field}`,
          `${what} '${n}' differs from '${names[j]}' (${key}[${j}]) only in case`,
        )
    })
  }
  crossKindChecks(ctx.rawList, report)

  const server = buildServer(ctx)
  const store = buildStore(ctx)
  const vault = buildVault(ctx, store)
  const tokens = buildTokens(ctx)
  const destructive = destructiveClasses(ctx)
  return {
    baseDir: opts.baseDir,
    vault,
    deferredSecrets: ctx.deferred,
    server,
    store,
    tokens,
    environments: buildEnvironments(ctx),
    operationClasses: buildOperationClasses(ctx),
    humans: buildHumans(ctx),
    agents: buildAgents(ctx),
    resourceServers: buildResourceServers(ctx),
    providers: buildProviders(ctx, providerRegistry, destructive),
    policies: buildPolicies(ctx, destructive),
    approvals: buildApprovals(ctx),
    slack: buildSlack(ctx),
    audit: buildAudit(ctx),
    rateLimits: buildRateLimits(ctx),
    console: buildConsole(ctx, server.publicUrl),
  }
}
