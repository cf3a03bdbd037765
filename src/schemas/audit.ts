import { Type } from '@sinclair/typebox'
import { Count, Nullable } from './common.js'

export const AuditEvent = Type.Object(
  {
    chain: Type.String(),
    seq: Type.Integer(),
    at: Type.String({ format: 'date-time' }),
    type: Type.String(),
    actor: Type.String(),
    session_id: Nullable(Type.String()),
    details: Type.Object({}, { additionalProperties: true }),
    hash: Type.String(),
    prev_hash: Type.String(),
  },
  { $id: 'AuditEvent' },
)

export const AuditQuery = Type.Object(
  {
    session_id: Type.Optional(Type.String({ maxLength: 64 })),
    agent: Type.Optional(Type.String({ maxLength: 64 })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    limit: Type.Optional(Count(1, 1000, 'Most events to return, newest first; default 100')),
  },
  { additionalProperties: false },
)
