// The `environments` and `operation_classes` sections: the names everything else refers to.
import type { BuildContext } from '../context.js'
import { isRecord } from '../../validation/schema.js'
import { EnvironmentSchema, OperationClassSchema } from '../schema.js'
import type { EnvironmentConfig, OperationClassConfig } from '../types.js'

export const buildEnvironments = (ctx: BuildContext): EnvironmentConfig[] =>
  ctx.items(EnvironmentSchema, 'environments').map(([e]) => ({ name: e.name }))

export const buildOperationClasses = (ctx: BuildContext): OperationClassConfig[] =>
  ctx.items(OperationClassSchema, 'operation_classes').map(([c]) => ({
    name: c.name,
    destructive: c.destructive ?? false,
  }))

/** Classes marked `destructive: true`, read from the file as written (a class with another bad field still counts). */
export const destructiveClasses = (ctx: BuildContext): string[] =>
  ctx
    .rawList('operation_classes')
    .flatMap((c) =>
      isRecord(c) && c['destructive'] === true && typeof c['name'] === 'string' ? [c['name']] : [],
    )
