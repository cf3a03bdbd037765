// What an agent receives when a session becomes active: the token and the provider's credentials.
import { Type, type Static } from '@sinclair/typebox'

export const Grant = Type.Object(
  {
    token: Type.String(),
    token_type: Type.Literal('Bearer'),
    expires_at: Type.String({ format: 'date-time' }),
    credentials: Type.Record(Type.String(), Type.Unknown(), {
      description: 'Provider-specific (docs/providers.md)',
    }),
  },
  { $id: 'Grant' },
)
export type Grant = Static<typeof Grant>
