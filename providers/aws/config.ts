// The aws provider's config: what its section resolves to, and the checks its schema (schema.ts)
// cannot make: which actions need a class marked destructive, one role per environment, the
// session policy's size. Paths are relative to the provider entry (`environments.staging.role_arn`).
import type { Static } from '@sinclair/typebox'
import { parseDuration } from '../../src/validation/duration.js'
import type { CheckContext } from '../validate.js'
import { destructiveMatch } from './destructive.js'
import { sessionPolicy, SESSION_POLICY_MAX_CHARS } from './policy.js'
import { ROLE_ARN_RE, ROLE_INLINE_POLICY_MAX_CHARS, type AwsSchema } from './schema.js'

export interface AwsEnvironmentConfig {
  roleArn: string
  roleName: string
  accountId: string
  /** Assumed for the IAM calls that write the deny policy; null: the broker's own identity. */
  adminRoleArn: string | null
  externalId: string | null
  adminExternalId: string | null
  /** Resources the session policy allows (default every resource the role allows). */
  resources: string[]
  /** An IAM Condition block added to the session policy's statement, e.g. a resource tag check. */
  condition: Record<string, Record<string, string | string[]>> | null
}

export interface AwsProviderConfig {
  region: string
  /** A secret reference to `{"access_key_id","secret_access_key"}`, or null for the ambient chain. */
  credentialsRef: string | null
  stsEndpoint: string | null
  iamEndpoint: string | null
  /** The longest credentials STS may issue for these roles (the roles' MaxSessionDuration). */
  maxSessionSeconds: number
  denyPolicyName: string
  /** What the deny policy may use of the role's 10,240-character inline policy quota. */
  denyPolicyMaxChars: number
  environments: Record<string, AwsEnvironmentConfig>
  classes: Record<string, { actions: string[] }>
}

export const STS_MIN_SECONDS = 900
const STS_MAX_SECONDS = 12 * 3600

// Which actions destroy lives in one reviewed list (destructive.ts); re-exported for callers here.
export { mayDestroy } from './destructive.js'

export function parseRoleArn(arn: string): { accountId: string; roleName: string } | null {
  const m = ROLE_ARN_RE.exec(arn)
  return m ? { accountId: m[2]!, roleName: m[3]! } : null
}

/** One role whatever its ARN's path and case: IAM names a role by account and name, ignoring case. */
export function roleKey(arn: string): string {
  const m = ROLE_ARN_RE.exec(arn)
  return m ? `${m[1]}:${m[2]}:${m[3]!.toLowerCase()}` : arn
}

export function checkAwsConfig(o: Static<typeof AwsSchema>, ctx: CheckContext): AwsProviderConfig {
  const { report } = ctx
  let maxSessionSeconds = 3600
  if (o.max_session_duration !== undefined) {
    try {
      const ms = parseDuration(o.max_session_duration)
      if (ms % 1000 !== 0 || ms < STS_MIN_SECONDS * 1000 || ms > STS_MAX_SECONDS * 1000)
        report('max_session_duration', 'STS issues between 15m and 12h, in whole seconds')
      else maxSessionSeconds = ms / 1000
    } catch (e) {
      report('max_session_duration', (e as Error).message)
    }
  }

  const classes: Record<string, { actions: string[] }> = {}
  for (const [name, c] of Object.entries(o.operation_classes)) {
    if (!ctx.destructive(name))
      c.actions.forEach((a, i) => {
        const hit = destructiveMatch(a)
        if (hit)
          report(
            `operation_classes.${name}.actions[${i}]`,
            `'${a}' can destroy (${hit.pattern}: ${hit.reason}): only a class marked destructive: true (two approvals) may have it`,
          )
      })
    classes[name] = { actions: c.actions }
  }

  const environments: Record<string, AwsEnvironmentConfig> = {}
  const roles = new Map<string, string>()
  for (const [name, e] of Object.entries(o.environments)) {
    // One role per environment: a session of one environment can never hold another's role, and
    // two deny lists never overwrite each other's policy.
    const role = roleKey(e.role_arn)
    const other = roles.get(role)
    if (other !== undefined)
      report(
        `environments.${name}.role_arn`,
        `the same role as environments.${other}; every environment needs its own role`,
      )
    roles.set(role, name)
    environments[name] = {
      roleArn: e.role_arn,
      ...(parseRoleArn(e.role_arn) as { accountId: string; roleName: string }),
      adminRoleArn: e.admin_role_arn ?? null,
      externalId: e.external_id ?? null,
      adminExternalId: e.admin_external_id ?? null,
      resources: e.resources ?? ['*'],
      condition: e.condition ?? null,
    }
  }

  // STS refuses session policies over 2,048 characters: say so now rather than at the first request.
  // Unlike IAM's quotas, STS counts the text as sent, spaces (in condition values) included.
  for (const [cls, c] of Object.entries(classes)) {
    const sizes = Object.entries(environments).map(
      ([env, e]) => [env, JSON.stringify(sessionPolicy(cls, c.actions, e)).length] as const,
    )
    const [env, n] = sizes.sort((a, b) => b[1] - a[1])[0] ?? ['', 0]
    if (n > SESSION_POLICY_MAX_CHARS)
      report(
        `operation_classes.${cls}.actions`,
        `the session policy (environment '${env}') would be ${n} characters; STS allows ${SESSION_POLICY_MAX_CHARS}`,
      )
  }

  return {
    region: o.region,
    credentialsRef: o.credentials === 'ambient' ? null : o.credentials,
    stsEndpoint: o.sts_endpoint ?? null,
    iamEndpoint: o.iam_endpoint ?? null,
    maxSessionSeconds,
    denyPolicyName: o.deny_policy_name ?? 'airlock-revoked-sessions',
    denyPolicyMaxChars: o.deny_policy_max_chars ?? ROLE_INLINE_POLICY_MAX_CHARS,
    environments,
    classes,
  }
}
