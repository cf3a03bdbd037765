// The session: the record as the store keeps it, and its public view, whose TypeBox schema is the
// one definition of the shape the API answers with (docs/api.md).
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import type { LockScope } from './lock.js'
import { isFinal, PUBLIC_STATUSES, type PublicStatus, type Status } from './status.js'
import { iso } from './time.js'

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])

/** The one gateway request an approval covers (docs/gateway.md). */
export const Action = Type.Object(
  {
    method: Type.String({ minLength: 1, maxLength: 16, pattern: '^[A-Za-z]+$' }),
    path: Type.String({
      maxLength: 2048,
      description: 'Relative to the gateway URL; "" and "/" are the same',
    }),
    body: Type.Optional(Type.Unknown({ description: 'The JSON body (or its text)' })),
  },
  {
    additionalProperties: false,
    description: 'The exact request the agent will send through the gateway; the grant allows it once',
  },
)
export type SessionAction = Static<typeof Action>

export const PublicStatusSchema = Type.Union(PUBLIC_STATUSES.map((s) => Type.Literal(s)))

export const Session = Type.Object(
  {
    id: Type.String(),
    status: PublicStatusSchema,
    agent: Type.String(),
    on_behalf_of: Nullable(Type.String()),
    task: Type.Object({ id: Type.String(), description: Nullable(Type.String()) }),
    environment: Type.String(),
    operation_class: Type.String(),
    provider: Type.String(),
    justification: Nullable(Type.String()),
    ttl_seconds: Type.Integer(),
    created_at: Type.String({ format: 'date-time' }),
    expires_at: Type.String({ format: 'date-time' }),
    approvals_required: Type.Integer(),
    approvals: Type.Array(
      Type.Object({
        by: Type.String(),
        via: Type.Union([Type.Literal('slack'), Type.Literal('api'), Type.Literal('console')]),
        at: Type.String({ format: 'date-time' }),
        comment: Nullable(Type.String()),
      }),
    ),
    denied_by: Nullable(Type.String()),
    revoked_by: Nullable(Type.String()),
    revoked_at: Nullable(Type.String({ format: 'date-time' })),
    action: Nullable(Action),
  },
  { $id: 'Session' },
)
export type PublicSession = Static<typeof Session>

export interface Approval {
  by: string
  via: 'slack' | 'api' | 'console'
  at: number
  comment: string | null
}

export interface SessionRecord {
  /** Version for compare-and-set; serialised first so Lua can read it without decoding. */
  v: number
  id: string
  status: Status
  agent: string
  owners: string[]
  on_behalf_of: string | null
  task: { id: string; description: string | null }
  environment: string
  operation_class: string
  provider: string
  justification: string | null
  ttl_seconds: number
  created_at: number
  /** Current deadline (ms): approval deadline, claim deadline, issuing deadline or credential expiry. */
  expires_at: number
  approvals_required: number
  approvals: Approval[]
  eligible_approvers: string[]
  rule: string
  denied_by: string | null
  revoked_by: string | null
  revoked_at: number | null
  /** jti of the one token minted for this session. */
  jti: string | null
  /** The provider's non-secret revocation handle. */
  handle: Record<string, string> | null
  /** The approved gateway action (absent in records written before actions existed). */
  action?: SessionAction | null
  /** Its canonical digest (src/gateway/canonical.ts), compared with each request. */
  action_digest?: string | null
}

/** A live session past its deadline is expired even before the sweeper records it. */
export function effectiveStatus(rec: SessionRecord, now: number): PublicStatus {
  if (!isFinal(rec.status) && rec.expires_at <= now) return 'expired'
  // Minting is a moment between granted and active; outside the broker it reads as approved.
  return rec.status === 'issuing' ? 'approved' : rec.status
}

export function toPublic(rec: SessionRecord, now: number): PublicSession {
  return {
    id: rec.id,
    status: effectiveStatus(rec, now),
    agent: rec.agent,
    on_behalf_of: rec.on_behalf_of,
    task: rec.task,
    environment: rec.environment,
    operation_class: rec.operation_class,
    provider: rec.provider,
    justification: rec.justification,
    ttl_seconds: rec.ttl_seconds,
    created_at: iso(rec.created_at),
    expires_at: iso(rec.expires_at),
    approvals_required: rec.approvals_required,
    approvals: rec.approvals.map((a) => ({ by: a.by, via: a.via, at: iso(a.at), comment: a.comment })),
    denied_by: rec.denied_by,
    revoked_by: rec.revoked_by,
    revoked_at: rec.revoked_at === null ? null : iso(rec.revoked_at),
    action: rec.action ?? null,
  }
}

export const scopeOf = (
  rec: Pick<SessionRecord, 'agent' | 'environment' | 'provider' | 'task'>,
): LockScope => ({
  agent: rec.agent,
  environment: rec.environment,
  provider: rec.provider,
  task_id: rec.task.id,
})
