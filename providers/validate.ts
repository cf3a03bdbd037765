// How every provider's section of the config is checked, so each reports problems the same way:
// its TypeBox schema through the walker the core config uses (src/validation/schema.ts), the
// environment and operation class names it is keyed by, then its own `check` for what a schema
// cannot say (which rights need a class marked destructive, one role per environment, ...).
import type { Static, TSchema } from '@sinclair/typebox'
import { isRecord, schemaProblems, type Problem, type Report } from '../src/validation/schema.js'
import type {
  Exclusive,
  Provider,
  ProviderContext,
  ProviderFns,
  ValidateContext,
  Validated,
} from './types.js'

export type { Report }

export interface CheckContext extends ValidateContext {
  report: Report
  /**
   * Whether `operationClass` may hold rights that destroy: it is marked `destructive: true` (two
   * approvals), or it is no class at all (reported as unknown already, so not judged again).
   */
  destructive(operationClass: string): boolean
}

export interface ProviderDefinition<S extends TSchema, C> {
  schema: S
  /** Runs once the section passed the schema; returns the resolved config (ignored if it reported). */
  check(options: Static<S>, ctx: CheckContext): C
  create(config: C, ctx: ProviderContext): Provider
  exclusive?(config: C): Exclusive[]
}

/** Maps of these keys are keyed by the config's environments and operation classes. */
const KEYED_BY = [
  ['environments', 'environments', 'environment'],
  ['operation_classes', 'operationClasses', 'operation class'],
] as const

export function defineProvider<S extends TSchema, C>(def: ProviderDefinition<S, C>): ProviderFns<C> {
  return {
    schema: def.schema,
    create: def.create,
    validate: (raw, ctx) => validateSection(def.schema, def.check, raw, ctx),
    ...(def.exclusive && { exclusive: def.exclusive }),
  }
}

/** A provider's section: the schema, the names its maps are keyed by, then `check` (when the shape is right). */
export function validateSection<S extends TSchema, C>(
  schema: S,
  check: ProviderDefinition<S, C>['check'],
  raw: Record<string, unknown>,
  ctx: ValidateContext,
): Validated<C> {
  const problems: Problem[] = schemaProblems(schema, raw)
  const shapeOk = problems.length === 0
  const report: Report = (path, message) => problems.push({ path, message })
  for (const [key, names, noun] of KEYED_BY) {
    const section = raw[key]
    // An empty list means the config's own list is broken (already reported).
    if (!isRecord(section) || ctx[names].length === 0) continue
    for (const name of Object.keys(section))
      if (!ctx[names].includes(name)) report(`${key}.${name}`, `unknown ${noun} '${name}'`)
  }
  if (!shapeOk) return { ok: false, problems }
  const config = check(raw as Static<S>, {
    ...ctx,
    report,
    destructive: (c) => ctx.destructiveClasses.includes(c) || !ctx.operationClasses.includes(c),
  })
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config }
}
