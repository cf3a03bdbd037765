// The github provider's section of the config: its schema, and the checks a schema cannot make
// (administering permissions only for classes marked destructive, repositories named without
// their owner, no duplicates). Paths are relative to the provider entry.
import { Type, type Static } from '@sinclair/typebox'
import { parseDuration } from '../../src/validation/duration.js'
import { Duration, SecretRef, map, needed, opt, strict } from '../../src/validation/schema.js'
import type { CheckContext } from '../validate.js'
import { isAdminLevel, PERMISSIONS } from './permissions.js'

export interface GithubEnvironmentConfig {
  installationId: number
  /** Repository names (without the owner: the installation's account owns them). */
  repositories: string[]
}

export interface GithubProviderConfig {
  appId: string
  /** Secret reference to the App's PEM private key (PKCS#1 or PKCS#8). */
  privateKeyRef: string
  /** REST API base, without a trailing slash. */
  apiUrl: string
  /** How long one issue or revoke may wait for GitHub's rate limit before answering 503. */
  rateLimitWaitMs: number
  environments: Record<string, GithubEnvironmentConfig>
  classes: Record<string, { permissions: Record<string, string> }>
}

export const DEFAULT_API_URL = 'https://api.github.com'
/** GitHub accepts at most 500 repositories in one token request. */
const MAX_REPOSITORIES = 500
const REPO = '[A-Za-z0-9._-]{1,100}'
const ADMIN_ONLY =
  'administers the repository or organisation: only a class marked destructive: true (two approvals) may hold it'

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

export function checkGithubConfig(o: Static<typeof GithubSchema>, ctx: CheckContext): GithubProviderConfig {
  const { report } = ctx
  let rateLimitWaitMs = 10_000
  if (o.rate_limit_wait !== undefined) {
    try {
      rateLimitWaitMs = parseDuration(o.rate_limit_wait)
      if (rateLimitWaitMs > 60_000) report('rate_limit_wait', 'at most 60s: callers wait for the answer')
    } catch (e) {
      report('rate_limit_wait', (e as Error).message)
    }
  }

  const environments: Record<string, GithubEnvironmentConfig> = {}
  for (const [name, e] of Object.entries(o.environments)) {
    if (e.repositories.length > MAX_REPOSITORIES)
      report(
        `environments.${name}.repositories`,
        `GitHub accepts at most ${MAX_REPOSITORIES} repositories per token`,
      )
    e.repositories.forEach((r, i) => {
      const p = `environments.${name}.repositories[${i}]`
      if (r.includes('/'))
        report(
          p,
          `write the name without its owner ('${r.split('/').pop()}'): the installation's account owns it`,
        )
      else if (e.repositories.indexOf(r) !== i) report(p, `duplicate repository '${r}'`)
    })
    environments[name] = { installationId: e.installation_id, repositories: e.repositories }
  }

  const classes: Record<string, { permissions: Record<string, string> }> = {}
  for (const [name, c] of Object.entries(o.operation_classes)) {
    const permissions = c.permissions as Record<string, string>
    if (!ctx.destructive(name))
      for (const [perm, level] of Object.entries(permissions))
        if (isAdminLevel(perm, level))
          report(`operation_classes.${name}.permissions.${perm}`, `${perm}: ${level} ${ADMIN_ONLY}`)
    classes[name] = { permissions }
  }

  return {
    appId: String(o.app_id),
    privateKeyRef: o.private_key,
    apiUrl: o.api_url?.replace(/\/+$/, '') ?? DEFAULT_API_URL,
    rateLimitWaitMs,
    environments,
    classes,
  }
}
