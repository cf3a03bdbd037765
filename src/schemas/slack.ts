// Slack's interactivity request: a form body `payload=<JSON>`, signed (src/slack/signature.ts).
// Only the fields Airlock reads are described; Slack sends many more, which are allowed.
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'

export const SlackHeaders = Type.Object({
  'x-slack-signature': Type.Optional(Type.String({ description: 'v0=<hex HMAC-SHA256>' })),
  'x-slack-request-timestamp': Type.Optional(Type.String({ description: 'Unix seconds' })),
})

export const SlackForm = Type.String({
  description: 'application/x-www-form-urlencoded: payload=<url-encoded JSON of a block_actions payload>',
})

const Id = Type.String({ minLength: 1, maxLength: 255 })

export const BlockActions = Type.Object({
  type: Type.Literal('block_actions'),
  user: Type.Object({ id: Id }),
  actions: Type.Array(
    Type.Object({ action_id: Id, value: Type.Optional(Type.String({ maxLength: 2000 })) }),
    { minItems: 1 },
  ),
  channel: Type.Optional(Type.Object({ id: Id })),
  container: Type.Optional(Type.Object({ channel_id: Type.Optional(Id), message_ts: Type.Optional(Id) })),
  response_url: Type.Optional(Type.String()),
})
export type BlockActions = Static<typeof BlockActions>

export const PayloadType = Type.Object({ type: Type.String() })

export const checkBlockActions = TypeCompiler.Compile(BlockActions)
export const checkPayloadType = TypeCompiler.Compile(PayloadType)
