import { Type } from '@sinclair/typebox'

export const ApprovalBody = Type.Object(
  {
    decision: Type.Union([Type.Literal('approve'), Type.Literal('deny')], {
      description: 'approve counts toward approvals_required; one deny ends the request',
    }),
    comment: Type.Optional(
      Type.String({ maxLength: 500, description: 'Kept with the approval and audited' }),
    ),
  },
  { additionalProperties: false },
)
