import { Type, type Static } from '@sinclair/typebox'
import { Action, Grant, PublicStatusSchema, Session } from '../domain/index.js'
import { Count, Name, TASK_ID } from './common.js'

export { Action, Grant, Session }
const Status = PublicStatusSchema

/** In a 201/202 answer when the asked ttl_seconds was above the policy's maximum. */
export const TtlClamped = Type.Object(
  {
    requested_seconds: Type.Integer(),
    ttl_seconds: Type.Integer(),
    rule: Type.Union([Type.String(), Type.Null()], {
      description: 'The policy rule whose max_ttl applied; null when it was tokens.max_ttl',
    }),
  },
  { description: 'Present when ttl_seconds was above the policy maximum and was lowered to it' },
)
export type TtlClamped = Static<typeof TtlClamped>

/** The TTL a request may name: at most tokens.max_ttl, said in the words of the config. */
const Ttl = (maxTtlSeconds: number) =>
  Type.Integer({
    minimum: 1,
    maximum: maxTtlSeconds,
    description: `Credential lifetime in seconds, at most the configured tokens.max_ttl (never above ${maxTtlSeconds}); above a policy rule's max_ttl it is clamped`,
    'x-too-big': `body/ttl_seconds is above this broker's tokens.max_ttl of ${maxTtlSeconds} seconds; ask for ${maxTtlSeconds} or less`,
  })

/** The request body, its TTL ceiling the configured tokens.max_ttl. */
const sessionRequest = (maxTtlSeconds: number) =>
  Type.Object(
    {
      environment: Name('A configured environment'),
      operation_class: Name('A configured operation class'),
      provider: Name('A configured provider'),
      task: Type.Object(
        {
          id: Type.String({ ...TASK_ID, description: '1-128 of A-Z a-z 0-9 . _ : / -' }),
          description: Type.Optional(Type.String({ maxLength: 500 })),
        },
        { additionalProperties: false },
      ),
      justification: Type.Optional(Type.String({ maxLength: 1000 })),
      ttl_seconds: Type.Optional(Ttl(maxTtlSeconds)),
      on_behalf_of: Type.Optional(Name('A configured human; excluded from approving')),
      action: Type.Optional(Action),
    },
    { additionalProperties: false },
  )

/** The request's type; its ceiling is the widest tokens.max_ttl the config loader allows (12h). */
export const SessionRequest = sessionRequest(12 * 3600)

export const SessionId = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_]+$' }),
})

export const WaitQuery = Type.Object(
  { wait: Type.Optional(Count(0, 60, 'Seconds to hold until the status changes')) },
  { additionalProperties: false },
)

export const ListQuery = Type.Object(
  {
    status: Type.Optional(Status),
    agent: Type.Optional(Name()),
    environment: Type.Optional(Name()),
    provider: Type.Optional(Name()),
    limit: Type.Optional(Count(1, 500, 'Page size, default 50')),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
)

export const BulkRevoke = Type.Object(
  {
    agent: Type.Optional(Name()),
    environment: Type.Optional(Name()),
    provider: Type.Optional(Name()),
    operation_class: Type.Optional(Name()),
    task_id: Type.Optional(Type.String(TASK_ID)),
  },
  { additionalProperties: false },
)
