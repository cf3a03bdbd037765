// The `providers` section: each entry's `name` and `type` are the core's; the rest is the provider
// type's own, checked by its validator (providers/*/config.ts) and reported under `providers[i]`.
import { joinPath } from '../../validation/schema.js'
import type { BuildContext } from '../context.js'
import { ProviderEntrySchema } from '../schema.js'
import type { ProviderConfig } from '../types.js'

/** What the loader needs of a provider type: a check of its section, as providers/validate.ts makes. */
export interface ProviderValidator {
  validate(
    raw: Record<string, unknown>,
    ctx: { name: string; environments: string[]; operationClasses: string[]; destructiveClasses: string[] },
  ): { ok: true; config: unknown } | { ok: false; problems: { path: string; message: string }[] }
  /** What outside Airlock the provider must be alone to write (see providers/types.ts). */
  exclusive?(config: unknown): { path: string; key: string; what: string }[]
}

export function buildProviders(
  ctx: BuildContext,
  validators: Readonly<Record<string, ProviderValidator>>,
  destructiveClasses: string[],
): ProviderConfig[] {
  const environments = [...(ctx.names('environments', 'name') ?? [])]
  const operationClasses = [...(ctx.names('operation_classes', 'name') ?? [])]
  const providers: ProviderConfig[] = []
  // Two providers writing one thing outside Airlock (an AWS deny policy) would each overwrite it
  // from their own state, undoing the other's revocations.
  const owners = new Map<string, string>()
  for (const [entry, i] of ctx.items(ProviderEntrySchema, 'providers')) {
    const { name, type, ...rest } = entry
    const validator = Object.hasOwn(validators, type) ? validators[type] : undefined
    if (!validator) {
      ctx.report(`providers[${i}].type`, `provider '${name}' has unknown type '${type}'`)
      continue
    }
    const result = validator.validate(rest, { name, environments, operationClasses, destructiveClasses })
    if (result.ok) {
      providers.push({ name, type, options: result.config })
      for (const x of validator.exclusive?.(result.config) ?? []) {
        const other = owners.get(x.key)
        if (other === undefined) owners.set(x.key, name)
        else
          ctx.report(
            joinPath(`providers[${i}]`, x.path),
            `${x.what} is already written by provider '${other}'; two providers would undo each other's revocations`,
          )
      }
    } else for (const p of result.problems) ctx.report(joinPath(`providers[${i}]`, p.path), p.message)
  }
  return providers
}
