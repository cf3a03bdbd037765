import { Type } from '@sinclair/typebox'
import { Name, Nullable, TASK_ID } from './common.js'

export const Lock = Type.Object(
  {
    id: Type.String(),
    agent: Nullable(Type.String()),
    environment: Nullable(Type.String()),
    provider: Nullable(Type.String()),
    task_id: Nullable(Type.String()),
    reason: Type.String(),
    expires_at: Nullable(Type.String({ format: 'date-time' })),
    created_by: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'Lock' },
)

export const LockRequest = Type.Object(
  {
    agent: Type.Optional(Name()),
    environment: Type.Optional(Name()),
    provider: Type.Optional(Name()),
    task_id: Type.Optional(Type.String(TASK_ID)),
    reason: Type.String({ minLength: 1, maxLength: 500 }),
    expires_at: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
)

export const LockId = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_]+$' }),
})
