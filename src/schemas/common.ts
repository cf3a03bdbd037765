import { Type, type TSchema } from '@sinclair/typebox'

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Stable error code (docs/api.md, "Errors")' }),
    message: Type.String(),
    request_id: Type.String(),
  },
  { $id: 'Error' },
)

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])

/** Response schemas for the error statuses a route can answer. */
export const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, Type.Ref('Error')])) as Record<
    number,
    ReturnType<typeof Type.Ref>
  >

export const NAME = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' } as const
export const Name = (description?: string) => Type.String({ ...NAME, ...(description && { description }) })
export const TASK_ID = { minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:/-]+$' } as const
/** A whole number in a query string (coerced by the query validator), bounds checked by the schema. */
export const Count = (minimum: number, maximum: number, description: string) =>
  Type.Integer({ minimum, maximum, description })
