import { Type } from '@sinclair/typebox'

const Kind = Type.Union([Type.Literal('agent'), Type.Literal('human'), Type.Literal('resource_server')])

export const Principal = Type.Object({
  id: Type.String(),
  kind: Kind,
  roles: Type.Array(Type.String()),
})

export const WhoAmI = Type.Object({
  id: Type.String(),
  kind: Kind,
  roles: Type.Array(Type.String()),
  owners: Type.Optional(Type.Array(Type.String(), { description: 'Agents: the humans who own it' })),
  broker: Type.Object({ version: Type.String(), public_url: Type.String() }),
})

export const Entitlement = Type.Object({
  environment: Type.String(),
  operation_class: Type.String(),
  provider: Type.String(),
  approvals_required: Type.Integer(),
  max_ttl_seconds: Type.Integer(),
  rules: Type.Array(Type.String(), { description: 'Every policy rule that allows this, in file order' }),
  max_ttl_rule: Type.Union([Type.String(), Type.Null()], {
    description:
      "The rule whose max_ttl sets the ceiling, or `provider NAME` when it is the provider's own; null when it is tokens.max_ttl",
  }),
  eligible_approvers: Type.Array(Type.String()),
})

export const Entitlements = Type.Object({
  principal: Principal,
  entitlements: Type.Array(Entitlement, {
    description:
      'Agents: every environment x class x provider the policy lets it request (locks not applied); empty for others',
  }),
})
