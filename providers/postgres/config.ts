// The postgres provider's config: what its section resolves to, and the checks its schema
// (schema.ts) cannot make: destructive privileges only for classes marked destructive, a default
// for every class, one database per environment. Paths are relative to the provider entry.
import type { Static } from '@sinclair/typebox'
import type { CheckContext } from '../validate.js'
import { PRIVILEGE_LEVELS, type PostgresSchema } from './schema.js'
import { unknownPlaceholders, PLACEHOLDERS } from './sql.js'

export { PRIVILEGE_LEVELS }
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

const DESTRUCTIVE_ONLY =
  'only a class marked destructive: true may have destructive privileges (it needs two approvals)'

export function checkPostgres(o: Static<typeof PostgresSchema>, ctx: CheckContext): PostgresConfig {
  const { report } = ctx
  const environments: Record<string, EnvironmentConfig> = {}
  const seen = new Map<string, string>()
  for (const [name, e] of Object.entries(o.environments)) {
    const schemas = e.schemas ?? ['public']
    schemas.forEach((s, i) => {
      if (schemas.indexOf(s) !== i) report(`environments.${name}.schemas[${i}]`, `duplicate schema '${s}'`)
    })
    // Two environments in one database could not be kept apart.
    const key = JSON.stringify([e.connection, e.database])
    const other = seen.get(key)
    if (other !== undefined)
      report(`environments.${name}.database`, `same connection and database as environments.${other}`)
    else seen.set(key, name)
    environments[name] = {
      connection: e.connection,
      database: e.database,
      schemas,
      owner: e.owner ?? null,
      host: e.host ?? null,
      port: e.port ?? null,
    }
  }

  const classes: Record<string, ClassConfig> = {}
  const rawClasses = o.operation_classes ?? {}
  for (const [name, c] of Object.entries(rawClasses)) {
    const at = `operation_classes.${name}`
    if ((c.privileges === undefined) === (c.grant_statements === undefined))
      report(at, 'expected exactly one of privileges and grant_statements')
    c.grant_statements?.forEach((s, i) => {
      const unknown = unknownPlaceholders(s)
      if (unknown.length > 0)
        report(
          `${at}.grant_statements[${i}]`,
          `unknown placeholder {{${unknown[0]}}} (known: ${PLACEHOLDERS.map((x) => `{{${x}}}`).join(', ')})`,
        )
    })
    // Destructive grants (DROP, TRUNCATE, the owner's rights) only behind the two-person rule.
    if (c.privileges === 'destructive' && !ctx.destructive(name)) report(`${at}.privileges`, DESTRUCTIVE_ONLY)
    classes[name] = { privileges: c.privileges ?? null, grantStatements: c.grant_statements ?? null }
  }
  for (const name of ctx.operationClasses) {
    if (Object.hasOwn(rawClasses, name)) continue
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

  return {
    environments,
    classes,
    onRevoke: o.on_revoke ?? 'reassign',
    connectionLimit: o.connection_limit ?? 10,
    deploymentId: o.deployment_id ?? null,
  }
}
