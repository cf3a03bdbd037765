import { Type } from '@sinclair/typebox'

export const VaultWrite = Type.Object(
  {
    value: Type.String({
      minLength: 1,
      maxLength: 32768,
      description: 'The secret; never returned by any route',
    }),
  },
  { additionalProperties: false },
)

export const SecretMeta = Type.Object(
  {
    path: Type.String(),
    version: Type.Integer(),
    updated_at: Type.String({ format: 'date-time' }),
    updated_by: Type.String(),
  },
  { $id: 'SecretMeta' },
)

export const VaultPath = Type.Object({ '*': Type.String({ minLength: 1, maxLength: 256 }) })

export const Rotated = Type.Object({
  kid: Type.String(),
  previous: Type.Union([Type.String(), Type.Null()]),
  /** Keys dropped at once (drop_previous): tokens they signed no longer verify. */
  dropped: Type.Array(Type.String()),
})

export const Rotate = Type.Object(
  {
    drop_previous: Type.Optional(
      Type.Boolean({ description: 'drop every earlier key now, for a key that may have leaked' }),
    ),
  },
  { additionalProperties: false },
)
