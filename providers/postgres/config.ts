// The `postgres` provider's config section: validated here, every problem with its path relative
// to the provider entry (load.ts prefixes `providers[i]`).
import { isSecretRef, LITERAL_SECRET } from '../../src/config/secrets.js'
import type { ValidateContext, Validated } from '../types.js'
import { isRecord, section, unknownKeys } from '../validate.js'
import { fitsIdentifier, unknownPlaceholders, PLACEHOLDERS } from './sql.js'

/** What a class's group may do by default (README, "postgres"). */
export const PRIVILEGE_LEVELS = ['read', 'write', 'destructive', 'none'] as const
export type PrivilegeLevel = (typeof PRIVILEGE_LEVELS)[number]

export interface ClassConfig {
  /** A built-in set of grants, or null when `grant_statements` replace them. */
  privileges: PrivilegeLevel | null
  grantStatements: string[] | null
}

export interface EnvironmentConfig {
  /** Secret reference to the admin connection URL (never the URL itself). */
  connection: string
  database: string
  schemas: string[]
  /** Role owning the objects destructive sessions may drop; null: a role Airlock manages. */
  owner: string | null
  /** What the grant tells agents to connect to, when it differs from the admin URL's host/port. */
  host: string | null
  port: number | null
}

export type OnRevoke = 'reassign' | 'drop'

export interface PostgresConfig {
  environments: Record<string, EnvironmentConfig>
  classes: Record<string, ClassConfig>
  onRevoke: OnRevoke
  connectionLimit: number
  deploymentId: string | null
}

const TOP_KEYS = ['environments', 'operation_classes', 'on_revoke', 'connection_limit', 'deployment_id']
const ENV_KEYS = ['connection', 'database', 'schemas', 'owner', 'host', 'port']
const CLASS_KEYS = ['privileges', 'grant_statements']
const IDENT_HINT = 'expected a PostgreSQL name of 1-63 bytes'
const MAX_STATEMENT = 10_000
const DESTRUCTIVE_ONLY =
  'only a class marked destructive: true may have destructive privileges (it needs two approvals)'

/** A host name, an IP address (v6 without brackets) or a socket directory. */
const isHost = (v: unknown): boolean =>
  typeof v === 'string' &&
  v.length > 0 &&
  v.length <= 255 &&
  !/[\s@?#\0]/.test(v) &&
  (v.startsWith('/') || !v.includes('/'))

export function validatePostgres(
  raw: Record<string, unknown>,
  ctx: ValidateContext,
): Validated<PostgresConfig> {
  const problems: { path: string; message: string }[] = []
  const report = (path: string, message: string) => problems.push({ path, message })
  unknownKeys(raw, TOP_KEYS, '', 'a postgres provider', report)

  const environments: Record<string, EnvironmentConfig> = {}
  const envs = raw['environments']
  if (envs === undefined) report('environments', 'required (environment name: {connection, database})')
  else if (!isRecord(envs) || Object.keys(envs).length === 0)
    report('environments', 'expected a mapping of environment names to {connection, database}')
  else {
    for (const [name, value] of Object.entries(envs)) {
      const at = `environments.${name}`
      if (ctx.environments.length > 0 && !ctx.environments.includes(name))
        report(at, `unknown environment '${name}'`)
      const env = environment(value, at, report)
      if (env) environments[name] = env
    }
    const seen = new Map<string, string>()
    for (const [name, e] of Object.entries(environments)) {
      // Two environments in one database could not be kept apart.
      const key = JSON.stringify([e.connection, e.database])
      const other = seen.get(key)
      if (other !== undefined)
        report(`environments.${name}.database`, `same connection and database as environments.${other}`)
      else seen.set(key, name)
    }
  }

  const classes: Record<string, ClassConfig> = {}
  const rawClasses = raw['operation_classes'] ?? {}
  if (!isRecord(rawClasses)) report('operation_classes', 'expected a mapping of operation class names')
  else {
    for (const [name, value] of Object.entries(rawClasses)) {
      const at = `operation_classes.${name}`
      if (ctx.operationClasses.length > 0 && !ctx.operationClasses.includes(name))
        report(at, `unknown operation class '${name}'`)
      const c = classConfig(value, at, report)
      // Destructive grants (DROP, TRUNCATE, the owner's rights) only behind the two-person rule.
      if (c?.privileges === 'destructive' && !ctx.destructiveClasses.includes(name))
        report(`${at}.privileges`, DESTRUCTIVE_ONLY)
      else if (c) classes[name] = c
    }
    for (const name of ctx.operationClasses) {
      if (classes[name] || Object.hasOwn(rawClasses, name)) continue
      if (name === 'destructive' && !ctx.destructiveClasses.includes(name))
        report(
          'operation_classes',
          `operation class 'destructive' is not marked destructive: true, so it gets no default privileges: ` +
            `mark it destructive: true, or set operation_classes.destructive.privileges`,
        )
      else if ((PRIVILEGE_LEVELS as readonly string[]).includes(name) && name !== 'none')
        classes[name] = { privileges: name as PrivilegeLevel, grantStatements: null }
      else
        report(
          'operation_classes',
          `operation class '${name}' has no default privileges: set operation_classes.${name}.privileges ` +
            `(${PRIVILEGE_LEVELS.join(', ')}) or grant_statements`,
        )
    }
  }

  const onRevoke = raw['on_revoke'] ?? 'reassign'
  if (onRevoke !== 'reassign' && onRevoke !== 'drop')
    report('on_revoke', 'expected reassign (hand what a session created to the owner role) or drop')
  const limit = raw['connection_limit'] ?? 10
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > 10_000)
    report('connection_limit', 'expected an integer from 1 to 10000')
  const deploymentId = raw['deployment_id'] ?? null
  if (
    deploymentId !== null &&
    (typeof deploymentId !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(deploymentId))
  )
    report('deployment_id', 'expected 1-128 printable characters without spaces')

  if (problems.length > 0) return { ok: false, problems }
  return {
    ok: true,
    config: {
      environments,
      classes,
      onRevoke: onRevoke as OnRevoke,
      connectionLimit: limit as number,
      deploymentId: deploymentId as string | null,
    },
  }
}

function environment(
  raw: unknown,
  at: string,
  report: (path: string, message: string) => void,
): EnvironmentConfig | null {
  const s = section(raw, at, '{connection, database}', ENV_KEYS, 'a postgres environment', report)
  if (!s) return null
  const { bad, value } = s
  const connection = value['connection']
  if (connection === undefined) bad(`${at}.connection`, 'required (a secret reference to a postgres:// URL)')
  else if (typeof connection !== 'string' || !isSecretRef(connection)) bad(`${at}.connection`, LITERAL_SECRET)
  const name = (key: string, required: boolean): string | null => {
    const v = value[key]
    if (v === undefined) {
      if (required) bad(`${at}.${key}`, `required (${IDENT_HINT})`)
      return null
    }
    if (typeof v !== 'string' || !fitsIdentifier(v)) {
      bad(`${at}.${key}`, IDENT_HINT)
      return null
    }
    return v
  }
  const database = name('database', true)
  const owner = name('owner', false)
  let schemas = ['public']
  const rawSchemas = value['schemas']
  if (rawSchemas !== undefined) {
    if (!Array.isArray(rawSchemas) || rawSchemas.length === 0)
      bad(`${at}.schemas`, 'expected a list of at least 1')
    else {
      rawSchemas.forEach((s, i) => {
        if (typeof s !== 'string' || !fitsIdentifier(s)) bad(`${at}.schemas[${i}]`, IDENT_HINT)
        else if (rawSchemas.indexOf(s) !== i) bad(`${at}.schemas[${i}]`, `duplicate schema '${s}'`)
      })
      schemas = rawSchemas as string[]
    }
  }
  const host = value['host'] ?? null
  if (host !== null && !isHost(host))
    bad(`${at}.host`, 'expected a host name, an IP address or a socket directory')
  const port = value['port'] ?? null
  if (port !== null && (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65_535))
    bad(`${at}.port`, 'expected an integer from 1 to 65535')
  if (!s.ok()) return null
  return {
    connection: connection as string,
    database: database as string,
    schemas,
    owner,
    host: host as string | null,
    port: port as number | null,
  }
}

function classConfig(
  raw: unknown,
  at: string,
  report: (path: string, message: string) => void,
): ClassConfig | null {
  const s = section(
    raw,
    at,
    '{privileges} or {grant_statements}',
    CLASS_KEYS,
    'a postgres operation class',
    report,
  )
  if (!s) return null
  const { bad, value } = s
  const privileges = value['privileges']
  const statements = value['grant_statements']
  if ((privileges === undefined) === (statements === undefined))
    bad(at, 'expected exactly one of privileges and grant_statements')
  if (privileges !== undefined && !(PRIVILEGE_LEVELS as readonly unknown[]).includes(privileges))
    bad(`${at}.privileges`, `expected one of ${PRIVILEGE_LEVELS.join(', ')}`)
  if (statements !== undefined) {
    if (!Array.isArray(statements) || statements.length === 0)
      bad(`${at}.grant_statements`, 'expected a list of at least 1 SQL statement')
    else
      statements.forEach((s, i) => {
        const p = `${at}.grant_statements[${i}]`
        if (typeof s !== 'string' || s.trim().length === 0 || s.length > MAX_STATEMENT || s.includes('\0'))
          bad(p, `expected a SQL statement of at most ${MAX_STATEMENT} characters`)
        else {
          const unknown = unknownPlaceholders(s)
          if (unknown.length > 0)
            bad(
              p,
              `unknown placeholder {{${unknown[0]}}} (known: ${PLACEHOLDERS.map((x) => `{{${x}}}`).join(', ')})`,
            )
        }
      })
  }
  if (!s.ok()) return null
  return {
    privileges: (privileges as PrivilegeLevel | undefined) ?? null,
    grantStatements: (statements as string[] | undefined) ?? null,
  }
}
