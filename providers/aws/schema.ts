// The aws provider's section of the config as the YAML writes it (its checks: config.ts).
import { Type } from '@sinclair/typebox'
import { SECRET_REF_PATTERN } from '../../src/validation/secret-ref.js'
import { Duration, int, list, map, needed, opt, pattern, strict } from '../../src/validation/schema.js'

/** IAM: a role's inline policies together may hold 10,240 characters (whitespace not counted). */
export const ROLE_INLINE_POLICY_MAX_CHARS = 10_240

export const ROLE_ARN_RE =
  /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]):iam::(\d{12}):role\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]{1,64})$/
const unknownKey = 'unknown key for an aws provider'

const RoleArn = pattern(ROLE_ARN_RE.source, 'is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)')
const ExternalId = pattern(
  '^[\\w+=,.@:/-]{2,1224}$',
  'expected 2-1224 characters of letters, digits and _+=,.@:/-',
)
const Endpoint = pattern('^https?://[^\\s/]+', 'expected an http:// or https:// URL')
const CONDITION_HINT =
  'expected an IAM condition block like { StringEquals: { "aws:ResourceTag/env": "staging" } }'

/** `{ Operator: { key: value | [values] } }`, as IAM writes conditions. */
const Condition = Type.Record(
  Type.String({ pattern: '^[A-Za-z]+(IfExists)?$|^(ForAllValues|ForAnyValue):[A-Za-z]+(IfExists)?$' }),
  Type.Record(
    Type.String(),
    Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })], {
      errorMessage: 'expected a string or a non-empty list of strings',
    }),
    { minProperties: 1, errorMessage: CONDITION_HINT },
  ),
  {
    minProperties: 1,
    additionalProperties: false,
    errorMessage: CONDITION_HINT,
    unknownKey: 'expected a condition operator like StringEquals',
  },
)

const Environment = strict(
  {
    role_arn: RoleArn,
    admin_role_arn: opt(RoleArn),
    external_id: opt(ExternalId),
    admin_external_id: opt(ExternalId),
    resources: opt(
      list(
        pattern('^(\\*|arn:\\S+)$', "expected an ARN pattern like arn:aws:s3:::bucket/* (or '*')"),
        1,
        "expected a non-empty list of ARN patterns (or '*')",
      ),
    ),
    condition: opt(Condition),
  },
  { errorMessage: 'expected { role_arn, ... }', unknownKey },
)

const OperationClass = strict(
  {
    actions: list(
      pattern(
        '^(\\*|[a-z0-9-]{2,64}:[A-Za-z0-9*?]{1,128})$',
        'expected an IAM action like s3:GetObject or ec2:Describe*',
      ),
      1,
      'expected a non-empty list of IAM actions like s3:GetObject',
    ),
  },
  { errorMessage: 'expected { actions: [...] }', unknownKey },
)

export const AwsSchema = strict(
  {
    region: pattern('^[a-z]{2}(-[a-z]+)+-\\d{1,2}$', 'is not an AWS region name (like us-east-1)'),
    credentials: Type.Union([Type.Literal('ambient'), Type.String({ pattern: SECRET_REF_PATTERN })], {
      errorMessage: "expected 'ambient' or a secret reference (env:, file: or vault:), not a literal",
    }),
    sts_endpoint: opt(Endpoint),
    iam_endpoint: opt(Endpoint),
    max_session_duration: opt(Duration),
    deny_policy_name: opt(
      pattern('^[\\w+=,.@-]{1,128}$', 'expected 1-128 characters of letters, digits and _+=,.@-'),
    ),
    deny_policy_max_chars: opt(
      int(
        500,
        ROLE_INLINE_POLICY_MAX_CHARS,
        `expected a whole number from 500 to ${ROLE_INLINE_POLICY_MAX_CHARS}`,
      ),
    ),
    environments: needed(
      map(Environment, 'expected a map of environment to { role_arn, ... }'),
      'the role of each environment',
    ),
    operation_classes: needed(
      map(OperationClass, 'expected a map of operation class to { actions }', 0),
      'the IAM actions of each operation class',
    ),
  },
  { unknownKey },
)
