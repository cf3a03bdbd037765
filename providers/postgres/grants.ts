// Group roles and their grants, one group per environment and operation class, created and kept in
// step at start (and after a reload). Each environment is rebuilt in one transaction: the groups'
// old privileges are revoked and the configured ones granted, so a class narrowed in the config
// loses what it no longer may do, and nobody ever sees a half-applied set.
import { err } from '../../src/errors.js'
import type pg from 'pg'
import type { ClassConfig, EnvironmentConfig, PrivilegeLevel } from './config.js'
import type { RoleNames } from './names.js'
import { ident, identList, literal, render } from './sql.js'

export const MIN_SERVER_VERSION = 140_000

const TABLES: Record<Exclude<PrivilegeLevel, 'none'>, string> = {
  read: 'SELECT',
  write: 'SELECT, INSERT, UPDATE, DELETE',
  destructive: 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER',
}
const SEQUENCES: Record<Exclude<PrivilegeLevel, 'none'>, string> = {
  read: 'SELECT',
  write: 'USAGE, SELECT',
  destructive: 'USAGE, SELECT, UPDATE',
}

export interface EnvGrants {
  provider: string
  environment: string
  config: EnvironmentConfig
  classes: Record<string, ClassConfig>
  names: RoleNames
}

/** The role that owns what destructive sessions may drop, and what revoked sessions leave behind. */
export const ownerOf = (g: Pick<EnvGrants, 'environment' | 'config' | 'names'>): string =>
  g.config.owner ?? g.names.owner(g.environment, g.config.database)

const roleExists = async (c: pg.PoolClient, role: string): Promise<boolean> =>
  ((await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount ?? 0) > 0

export async function applyGrants(c: pg.PoolClient, g: EnvGrants): Promise<void> {
  const { config, names } = g
  const version = Number((await c.query('SHOW server_version_num')).rows[0].server_version_num)
  if (version < MIN_SERVER_VERSION) throw err.unavailable('PostgreSQL 14 or later is required')
  const db = ident(config.database)
  const schemas = identList(config.schemas)
  const owner = ownerOf(g)

  await c.query('BEGIN')
  try {
    // Replicas starting together would otherwise race on the same catalog rows.
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`airlock:${names.tag}`])
    const ownerRow = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [owner])
    if (ownerRow.rowCount === 0) {
      if (config.owner !== null) throw err.unavailable(`the owner role '${config.owner}' does not exist`)
      await c.query(`CREATE ROLE ${ident(owner)} NOLOGIN`)
    }
    if (config.owner === null)
      await c.query(
        `COMMENT ON ROLE ${ident(owner)} IS ${literal(`Airlock ${g.provider}: owner of objects left by sessions in ${g.environment}`)}`,
      )
    const found = await c.query('SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])', [
      config.schemas,
    ])
    const missing = config.schemas.filter((s) => !found.rows.some((r) => r.nspname === s))
    if (missing.length > 0)
      throw err.unavailable(`schema '${missing[0]}' does not exist in database '${config.database}'`)

    // Only the environment's groups may connect, and only destructive ones may create.
    await c.query(`REVOKE CONNECT ON DATABASE ${db} FROM PUBLIC`)
    await c.query(`REVOKE CREATE ON SCHEMA ${schemas} FROM PUBLIC`)

    for (const [cls, spec] of Object.entries(g.classes).sort(([a], [b]) => a.localeCompare(b))) {
      const group = names.group(g.environment, config.database, cls)
      const q = ident(group)
      if (!(await roleExists(c, group))) await c.query(`CREATE ROLE ${q} NOLOGIN`)
      await c.query(
        `COMMENT ON ROLE ${q} IS ${literal(`Airlock ${g.provider}: environment ${g.environment}, class ${cls}`)}`,
      )
      // A clean slate in this database: every privilege and membership the group had goes.
      await c.query(`DROP OWNED BY ${q}`)
      const memberOf = await c.query(
        `SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
          WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
        [group],
      )
      for (const row of memberOf.rows) await c.query(`REVOKE ${ident(row.rolname as string)} FROM ${q}`)

      if (spec.grantStatements) {
        const values = { group: q, database: db, schemas, owner: ident(owner) }
        for (const sql of spec.grantStatements) await c.query(render(sql, values))
      } else if (spec.privileges && spec.privileges !== 'none') {
        const level = spec.privileges
        await c.query(`GRANT CONNECT ON DATABASE ${db} TO ${q}`)
        await c.query(`GRANT USAGE ON SCHEMA ${schemas} TO ${q}`)
        await c.query(`GRANT ${TABLES[level]} ON ALL TABLES IN SCHEMA ${schemas} TO ${q}`)
        await c.query(`GRANT ${SEQUENCES[level]} ON ALL SEQUENCES IN SCHEMA ${schemas} TO ${q}`)
        // Tables and sequences the owner creates later get the same grants.
        const defaults = `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(owner)} IN SCHEMA ${schemas} GRANT`
        await c.query(`${defaults} ${TABLES[level]} ON TABLES TO ${q}`)
        await c.query(`${defaults} ${SEQUENCES[level]} ON SEQUENCES TO ${q}`)
        if (level === 'destructive') {
          await c.query(`GRANT CREATE ON SCHEMA ${schemas} TO ${q}`)
          // DROP and ALTER need ownership: the group acts with the owner's privileges but (16+)
          // cannot SET ROLE to it, so what it creates stays its own until reassigned.
          await c.query(
            `GRANT ${ident(owner)} TO ${q}${version >= 160_000 ? ' WITH INHERIT TRUE, SET FALSE' : ''}`,
          )
        }
      }
      await checkConfinement(c, [group], g.environment)
    }
    await c.query('COMMIT')
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {})
    throw e
  }
}

/**
 * Refuses grants that would let a group escape its environment: into a database that PUBLIC may
 * not enter (another environment's), into a database owner's privileges (DROP DATABASE), or into
 * a superuser, CREATEROLE or REPLICATION role, or one that runs programs or reaches server files.
 */
export async function checkConfinement(
  c: pg.PoolClient,
  groups: string[],
  environment: string,
): Promise<void> {
  for (const group of groups) await checkGroup(c, group, environment)
}

/**
 * How many privileges in the current database (and on databases) the groups granted: what
 * sessions passed on with a grant option that `grant_statements` gave their group, recorded as
 * the group's. Airlock's own grants never come from a group.
 */
export async function grantsByGroups(c: pg.PoolClient, groups: string[]): Promise<number> {
  const r = await c.query(
    `SELECT count(*)::int AS n FROM (
       SELECT relacl AS acl FROM pg_class WHERE relacl IS NOT NULL
       UNION ALL SELECT attacl FROM pg_attribute WHERE attacl IS NOT NULL
       UNION ALL SELECT nspacl FROM pg_namespace
       UNION ALL SELECT proacl FROM pg_proc WHERE proacl IS NOT NULL
       UNION ALL SELECT typacl FROM pg_type WHERE typacl IS NOT NULL
       UNION ALL SELECT lomacl FROM pg_largeobject_metadata
       UNION ALL SELECT lanacl FROM pg_language
       UNION ALL SELECT fdwacl FROM pg_foreign_data_wrapper
       UNION ALL SELECT srvacl FROM pg_foreign_server
       UNION ALL SELECT datacl FROM pg_database
       UNION ALL SELECT defaclacl FROM pg_default_acl) a, aclexplode(a.acl) e
      WHERE e.grantor IN (SELECT oid FROM pg_roles WHERE rolname = ANY($1::text[]))`,
    [groups],
  )
  return r.rows[0].n as number
}

/** Groups of an environment that exist (a class set to `none` still has one, without grants). */
export const groupsOf = (g: EnvGrants): string[] =>
  Object.keys(g.classes).map((cls) => g.names.group(g.environment, g.config.database, cls))

/** Predefined roles no group may reach, and why: each escapes an environment and its class. */
const PREDEFINED_REFUSED: Record<string, string> = {
  // COPY ... PROGRAM runs a shell; the server's files hold every database (and its configuration).
  pg_execute_server_program: 'may run programs on the server',
  pg_read_server_files: 'may read files on the server',
  pg_write_server_files: 'may write files on the server',
  // Every table of every database, whatever the class grants.
  pg_read_all_data: 'may read every table of every database',
  pg_write_all_data: 'may write every table of every database',
  pg_signal_backend: "may cancel or end other roles' connections",
}

async function checkGroup(c: pg.PoolClient, group: string, environment: string): Promise<void> {
  const strong = await c.query(
    `SELECT r.rolname FROM pg_roles r
      WHERE (r.rolsuper OR r.rolcreaterole OR r.rolreplication) AND pg_has_role($1::name, r.oid, 'MEMBER')
      LIMIT 1`,
    [group],
  )
  if (strong.rowCount)
    throw err.unavailable(
      `the ${environment} groups would be members of role '${strong.rows[0].rolname}', which is a superuser or may create roles or replicate`,
    )
  const server = await c.query(
    `SELECT r.rolname FROM pg_roles r
      WHERE r.rolname = ANY($2::text[]) AND pg_has_role($1::name, r.oid, 'MEMBER')
      ORDER BY 1 LIMIT 1`,
    [group, Object.keys(PREDEFINED_REFUSED)],
  )
  if (server.rowCount) {
    const role = server.rows[0].rolname as string
    throw err.unavailable(
      `the ${environment} groups would be members of role '${role}', which ${PREDEFINED_REFUSED[role]}`,
    )
  }
  const dbOwner = await c.query(
    `SELECT d.datname FROM pg_database d WHERE pg_has_role($1::name, d.datdba, 'MEMBER') LIMIT 1`,
    [group],
  )
  if (dbOwner.rowCount)
    throw err.unavailable(
      `the ${environment} groups would hold the privileges of the owner of database '${dbOwner.rows[0].datname}' and could drop it: give the database another owner`,
    )
  const other = await c.query(
    `SELECT d.datname FROM pg_database d
      WHERE d.datname <> current_database() AND d.datallowconn
        AND has_database_privilege($1::name, d.oid, 'CONNECT')
        AND d.datacl IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM aclexplode(d.datacl) a WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT')
      LIMIT 1`,
    [group],
  )
  if (other.rowCount)
    throw err.unavailable(
      `the ${environment} groups could connect to database '${other.rows[0].datname}', which is not theirs (a shared owner role?)`,
    )
}
