// The aws provider's section of the config: checked here, every problem with its path
// (`environments.staging.role_arn: ...`; the loader prefixes `providers[i].`).
import { parseDuration } from '../../src/config/duration.js'
import { isSecretRef } from '../../src/config/secrets.js'
import type { ValidateContext, Validated } from '../types.js'
import { isRecord, unknownKeys as reportUnknownKeys } from '../validate.js'
import { sessionPolicy, SESSION_POLICY_MAX_CHARS, policyChars } from './policy.js'
import { destructiveMatch } from './destructive.js'

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
/** IAM: a role's inline policies together may hold 10,240 characters (whitespace not counted). */
export const ROLE_INLINE_POLICY_MAX_CHARS = 10_240

const TOP_KEYS = [
  'region',
  'credentials',
  'sts_endpoint',
  'iam_endpoint',
  'max_session_duration',
  'deny_policy_name',
  'deny_policy_max_chars',
  'environments',
  'operation_classes',
]
const ENV_KEYS = ['role_arn', 'admin_role_arn', 'external_id', 'admin_external_id', 'resources', 'condition']
const CLASS_KEYS = ['actions']

// Which actions destroy lives in one reviewed list (destructive.ts); re-exported for callers here.
export { mayDestroy } from './destructive.js'

const ROLE_ARN_RE =
  /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]):iam::(\d{12}):role\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]{1,64})$/
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/
const ACTION_RE = /^(\*|[a-z0-9-]{2,64}:[A-Za-z0-9*?]{1,128})$/
const EXTERNAL_ID_RE = /^[\w+=,.@:/-]{2,1224}$/
const POLICY_NAME_RE = /^[\w+=,.@-]{1,128}$/
const CONDITION_OPERATOR_RE = /^[A-Za-z]+(IfExists)?$|^(ForAllValues|ForAnyValue):[A-Za-z]+(IfExists)?$/

type Problem = { path: string; message: string }

export function parseRoleArn(arn: string): { accountId: string; roleName: string } | null {
  const m = ROLE_ARN_RE.exec(arn)
  return m ? { accountId: m[2]!, roleName: m[3]! } : null
}

export function validateAwsConfig(
  raw: Record<string, unknown>,
  ctx: ValidateContext,
): Validated<AwsProviderConfig> {
  const problems: Problem[] = []
  const report = (path: string, message: string) => problems.push({ path, message })
  const unknownKeys = (obj: Record<string, unknown>, allowed: string[], base: string) =>
    reportUnknownKeys(obj, allowed, base, 'an aws provider', report)
  const str = (v: unknown, path: string, required: boolean): string | null => {
    if (v === undefined || v === null) {
      if (required) report(path, 'required')
      return null
    }
    if (typeof v !== 'string' || v.length === 0) {
      report(path, 'expected a non-empty string')
      return null
    }
    return v
  }
  const url = (v: unknown, path: string): string | null => {
    const s = str(v, path, false)
    if (s !== null && !/^https?:\/\/[^\s/]+/.test(s)) report(path, 'expected an http:// or https:// URL')
    return s
  }

  unknownKeys(raw, TOP_KEYS, '')
  const stsEndpoint = url(raw['sts_endpoint'], 'sts_endpoint')
  const iamEndpoint = url(raw['iam_endpoint'], 'iam_endpoint')

  const region = str(raw['region'], 'region', true)
  if (region !== null && !REGION_RE.test(region)) report('region', `'${region}' is not an AWS region name`)

  let credentialsRef: string | null = null
  const creds = str(raw['credentials'], 'credentials', true)
  if (creds !== null && creds !== 'ambient') {
    if (isSecretRef(creds)) credentialsRef = creds
    else
      report('credentials', "expected 'ambient' or a secret reference (env:, file: or vault:), not a literal")
  }

  let maxSessionSeconds = 3600
  if (raw['max_session_duration'] !== undefined) {
    const d = raw['max_session_duration']
    try {
      if (typeof d !== 'string') throw new Error('expected a duration like 1h')
      const ms = parseDuration(d)
      if (ms % 1000 !== 0 || ms < STS_MIN_SECONDS * 1000 || ms > STS_MAX_SECONDS * 1000)
        throw new Error('STS issues between 15m and 12h, in whole seconds')
      maxSessionSeconds = ms / 1000
    } catch (e) {
      report('max_session_duration', (e as Error).message)
    }
  }

  const denyPolicyName = str(raw['deny_policy_name'], 'deny_policy_name', false) ?? 'airlock-revoked-sessions'
  if (!POLICY_NAME_RE.test(denyPolicyName))
    report('deny_policy_name', 'expected 1-128 characters of letters, digits and _+=,.@-')
  let denyPolicyMaxChars = ROLE_INLINE_POLICY_MAX_CHARS
  const maxChars = raw['deny_policy_max_chars']
  if (maxChars !== undefined) {
    if (
      typeof maxChars !== 'number' ||
      !Number.isInteger(maxChars) ||
      maxChars < 500 ||
      maxChars > ROLE_INLINE_POLICY_MAX_CHARS
    )
      report('deny_policy_max_chars', `expected a whole number from 500 to ${ROLE_INLINE_POLICY_MAX_CHARS}`)
    else denyPolicyMaxChars = maxChars
  }

  // operation classes
  const classes: Record<string, { actions: string[] }> = {}
  const rawClasses = raw['operation_classes']
  if (rawClasses === undefined)
    report('operation_classes', 'required (the IAM actions of each operation class)')
  else if (!isRecord(rawClasses))
    report('operation_classes', 'expected a map of operation class to { actions }')
  else {
    for (const [name, body] of Object.entries(rawClasses)) {
      const base = `operation_classes.${name}`
      // An empty list means the config's own list is broken (already reported): nothing to check against.
      if (ctx.operationClasses.length > 0 && !ctx.operationClasses.includes(name))
        report(base, `unknown operation class '${name}'`)
      if (!isRecord(body)) {
        report(base, 'expected { actions: [...] }')
        continue
      }
      unknownKeys(body, CLASS_KEYS, base)
      const actions = body['actions']
      if (!Array.isArray(actions) || actions.length === 0) {
        report(`${base}.actions`, 'expected a non-empty list of IAM actions like s3:GetObject')
        continue
      }
      // Unknown classes were reported above; judging their actions too would only repeat it.
      const known = ctx.operationClasses.includes(name)
      const destructive = ctx.destructiveClasses.includes(name)
      actions.forEach((a, i) => {
        if (typeof a !== 'string' || !ACTION_RE.test(a))
          report(`${base}.actions[${i}]`, 'expected an IAM action like s3:GetObject or ec2:Describe*')
        else if (known && !destructive) {
          const hit = destructiveMatch(a)
          if (hit)
            report(
              `${base}.actions[${i}]`,
              `'${a}' can destroy (${hit.pattern}: ${hit.reason}): only a class marked destructive: true (two approvals) may have it`,
            )
        }
      })
      classes[name] = { actions: actions.filter((a): a is string => typeof a === 'string') }
    }
  }

  // environments
  const environments: Record<string, AwsEnvironmentConfig> = {}
  const rawEnvs = raw['environments']
  const roles = new Map<string, string>()
  if (rawEnvs === undefined) report('environments', 'required (the role of each environment)')
  else if (!isRecord(rawEnvs) || Object.keys(rawEnvs).length === 0)
    report('environments', 'expected a map of environment to { role_arn, ... }')
  else {
    for (const [name, body] of Object.entries(rawEnvs)) {
      const base = `environments.${name}`
      if (ctx.environments.length > 0 && !ctx.environments.includes(name))
        report(base, `unknown environment '${name}'`)
      if (!isRecord(body)) {
        report(base, 'expected { role_arn, ... }')
        continue
      }
      unknownKeys(body, ENV_KEYS, base)
      const arnOf = (key: string, required: boolean) => {
        const arn = str(body[key], `${base}.${key}`, required)
        if (arn === null) return null
        const parsed = parseRoleArn(arn)
        if (!parsed)
          report(`${base}.${key}`, `'${arn}' is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)`)
        return parsed ? { arn, ...parsed } : null
      }
      const role = arnOf('role_arn', true)
      const admin = arnOf('admin_role_arn', false)
      if (role) {
        // One role per environment: a session of one environment can never hold another's role.
        const other = roles.get(role.arn)
        if (other !== undefined)
          report(
            `${base}.role_arn`,
            `the same role as environments.${other}; every environment needs its own role`,
          )
        roles.set(role.arn, name)
      }
      const extId = (key: string) => {
        const v = str(body[key], `${base}.${key}`, false)
        if (v !== null && !EXTERNAL_ID_RE.test(v))
          report(`${base}.${key}`, 'expected 2-1224 characters of letters, digits and _+=,.@:/-')
        return v
      }
      const externalId = extId('external_id')
      const adminExternalId = extId('admin_external_id')
      let resources = ['*']
      if (body['resources'] !== undefined) {
        const r = body['resources']
        if (
          !Array.isArray(r) ||
          r.length === 0 ||
          r.some((x) => typeof x !== 'string' || !/^(\*|arn:\S+)$/.test(x))
        )
          report(`${base}.resources`, "expected a non-empty list of ARN patterns (or '*')")
        else resources = r as string[]
      }
      const condition =
        body['condition'] === undefined
          ? null
          : checkCondition(body['condition'], `${base}.condition`, report)
      if (role) {
        environments[name] = {
          roleArn: role.arn,
          roleName: role.roleName,
          accountId: role.accountId,
          adminRoleArn: admin?.arn ?? null,
          externalId,
          adminExternalId,
          resources,
          condition,
        }
      }
    }
  }

  // STS refuses session policies over 2,048 characters: say so now rather than at the first request.
  for (const [cls, c] of Object.entries(classes)) {
    const sizes = Object.entries(environments).map(
      ([env, e]) => [env, policyChars(sessionPolicy(cls, c.actions, e))] as const,
    )
    const [env, n] = sizes.sort((a, b) => b[1] - a[1])[0] ?? ['', 0]
    if (n > SESSION_POLICY_MAX_CHARS)
      report(
        `operation_classes.${cls}.actions`,
        `the session policy (environment '${env}') would be ${n} characters; STS allows ${SESSION_POLICY_MAX_CHARS}`,
      )
  }

  if (problems.length > 0) return { ok: false, problems }
  return {
    ok: true,
    config: {
      region: region as string,
      credentialsRef,
      stsEndpoint,
      iamEndpoint,
      maxSessionSeconds,
      denyPolicyName,
      denyPolicyMaxChars,
      environments,
      classes,
    },
  }
}

/** `{ Operator: { key: value | [values] } }`, as IAM writes conditions. */
function checkCondition(
  v: unknown,
  path: string,
  report: (path: string, message: string) => void,
): Record<string, Record<string, string | string[]>> | null {
  const hint = 'expected an IAM condition block like { StringEquals: { "aws:ResourceTag/env": "staging" } }'
  if (!isRecord(v) || Object.keys(v).length === 0) {
    report(path, hint)
    return null
  }
  let ok = true
  for (const [op, body] of Object.entries(v)) {
    if (!CONDITION_OPERATOR_RE.test(op)) {
      report(`${path}.${op}`, 'expected a condition operator like StringEquals')
      ok = false
    } else if (
      !isRecord(body) ||
      Object.keys(body).length === 0 ||
      Object.values(body).some(
        (x) =>
          typeof x !== 'string' &&
          !(Array.isArray(x) && x.length > 0 && x.every((y) => typeof y === 'string')),
      )
    ) {
      report(`${path}.${op}`, hint)
      ok = false
    }
  }
  return ok ? (v as Record<string, Record<string, string | string[]>>) : null
}
