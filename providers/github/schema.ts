// The github provider's section of the config as the YAML writes it (its checks: config.ts).
import { Type } from '@sinclair/typebox'
import { Duration, SecretRef, map, needed, opt, strict } from '../../src/validation/schema.js'
import { PERMISSIONS } from './permissions.js'

const REPO = '[A-Za-z0-9._-]{1,100}'

const PositiveInt = (errorMessage: string) =>
  Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, errorMessage })

const Environment = strict(
  {
    installation_id: needed(
      PositiveInt('expected a positive whole number, like 4242'),
      "the App installation's numeric id",
    ),
    repositories: needed(
      Type.Array(
        // owner/name passes here so that the check can say which part to drop.
        Type.String({
          pattern: `^(${REPO}/)?${REPO}$`,
          errorMessage: 'expected a repository name of letters, digits, . _ and -',
        }),
        {
          // An empty list would make GitHub hand out a token for every repository of the installation.
          minItems: 1,
          errorMessage:
            'expected a non-empty list of repository names (an empty list would mean all of them)',
        },
      ),
      'the repositories this environment may touch, by name',
    ),
  },
  {
    errorMessage: 'expected {installation_id, repositories}',
    unknownKey: 'unknown key for a github environment',
  },
)

/** Every GitHub App permission, each with the levels it accepts. */
const Permissions = Type.Object(
  Object.fromEntries(
    Object.entries(PERMISSIONS).map(([name, levels]) => [
      name,
      Type.Optional(
        Type.Union(
          levels.map((l) => Type.Literal(l)),
          { errorMessage: `expected ${levels.join(' or ')}` },
        ),
      ),
    ]),
  ),
  {
    additionalProperties: false,
    // No permissions would make GitHub grant every permission the App has.
    minProperties: 1,
    errorMessage: "expected a non-empty mapping like {contents: read} (none would mean all of the App's)",
    unknownKey: "'{key}' is not a GitHub App permission",
  },
)

const OperationClass = strict(
  { permissions: needed(Permissions, 'a mapping like {contents: read}') },
  {
    errorMessage: 'expected {permissions: {name: level}}',
    unknownKey: 'unknown key for a github operation class',
  },
)

export const GithubSchema = strict(
  {
    app_id: needed(
      Type.Union(
        [
          PositiveInt("expected the App's numeric id, like 123456"),
          Type.String({ pattern: '^[1-9]\\d{0,18}$' }),
        ],
        { errorMessage: "expected the App's numeric id, like 123456" },
      ),
      "the App's numeric id, from its settings page",
    ),
    private_key: needed(SecretRef, "a secret reference to the App's private key PEM"),
    api_url: opt(
      Type.String({
        pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$',
        errorMessage: 'expected an http:// or https:// URL like https://api.github.com',
      }),
    ),
    rate_limit_wait: opt(Duration),
    environments: needed(
      map(Environment, 'expected a mapping of environment names to {installation_id, repositories}'),
      'environment name: {installation_id, repositories}',
    ),
    operation_classes: needed(
      map(OperationClass, 'expected a mapping of operation class names to {permissions}'),
      'the permissions of each operation class',
    ),
  },
  { unknownKey: 'unknown key for a github provider' },
)
