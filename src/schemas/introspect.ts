import { Type } from '@sinclair/typebox'

export const IntrospectBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 8192 }),
    token_type_hint: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
)

// RFC 7662: active tokens carry their claims; inactive ones are exactly {"active": false}.
export const IntrospectResponse = Type.Union([
  Type.Object({
    active: Type.Literal(true),
    sub: Type.String(),
    client_id: Type.String(),
    sid: Type.String(),
    env: Type.String(),
    op: Type.String(),
    provider: Type.String(),
    task: Type.String(),
    aud: Type.String(),
    iss: Type.String(),
    exp: Type.Integer(),
    iat: Type.Integer(),
    jti: Type.String(),
  }),
  Type.Object({ active: Type.Literal(false) }, { additionalProperties: false }),
])
