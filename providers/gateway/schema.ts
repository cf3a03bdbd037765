// The gateway provider's section of the config as the YAML writes it (its checks: config.ts).
import { Type } from '@sinclair/typebox'
import {
  Duration,
  SecretRef,
  bool,
  int,
  list,
  map,
  needed,
  opt,
  pattern,
  strict,
} from '../../src/validation/schema.js'

export const UPSTREAM_HINT = 'expected an http:// or https:// URL without user info, query or fragment'
export const HEADER_HINT = 'expected a header name (default authorization)'

const Upstream = Type.String({ maxLength: 2048, errorMessage: UPSTREAM_HINT })
const HeaderName = (errorMessage: string) => pattern("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$", errorMessage)
const Fields = list(
  pattern('^[A-Za-z_*][A-Za-z0-9_*]{0,127}$', 'expected a root field name, * matching any run of characters'),
  0,
  'expected a list of strings',
)

/** Calls one session may send a minute (the provider's, or one environment's own). */
const CallsPerMinute = int(1, 1_000_000)

const Environment = strict(
  {
    upstream: opt(Upstream),
    credential: needed(SecretRef, 'a secret reference to the upstream token'),
    header: opt(HeaderName(HEADER_HINT)),
    calls_per_minute: opt(CallsPerMinute),
    arguments: opt(
      Type.Record(
        Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' }),
        list(
          Type.String({
            minLength: 1,
            errorMessage: 'expected a non-empty string (a value this environment may touch)',
          }),
          0,
          'expected a list of non-empty strings (the values this environment may touch)',
        ),
        {
          additionalProperties: false,
          errorMessage: 'expected a mapping of argument names to lists of values',
          unknownKey: 'expected a GraphQL argument name',
        },
      ),
    ),
  },
  { errorMessage: 'expected {credential}', unknownKey: 'unknown key for a gateway environment' },
)

export const OperationClass = strict(
  {
    http: opt(
      list(
        Type.String({ errorMessage: 'expected a rule like "GET /api/**"' }),
        0,
        'expected a list of strings',
      ),
    ),
    queries: opt(Fields),
    mutations: opt(Fields),
    subscriptions: opt(Fields),
  },
  {
    errorMessage: 'expected {http} (or {queries, mutations, subscriptions} with graphql: true)',
    unknownKey: 'unknown key for a gateway operation class',
  },
)

export const GatewaySchema = strict(
  {
    upstream: opt(Upstream),
    graphql: opt(bool()),
    timeout: opt(Duration),
    header: opt(HeaderName(HEADER_HINT)),
    forward_headers: opt(list(HeaderName('expected a header name'), 0, 'expected a list of header names')),
    body_limit_bytes: opt(int(1, 100 * 1_048_576)),
    calls_per_minute: opt(CallsPerMinute),
    environments: needed(
      map(Environment, 'expected a mapping of environment names to {credential}'),
      'a mapping of environment names to {credential}',
    ),
    operation_classes: needed(
      map(OperationClass, 'expected a mapping of operation class names to their rules'),
      'a mapping of operation class names to their rules',
    ),
  },
  { unknownKey: 'unknown key for a gateway provider' },
)
