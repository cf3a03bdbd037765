// One login role per session: created (or, on a retry, reset) with a fresh password, a VALID UNTIL
// at the session's end and membership in its class's group; dropped on revoke, expiry or reaping
// after its connections are cut.
import { err } from '../../src/errors.js'
import { setTimeout as sleep } from 'node:timers/promises'
import type pg from 'pg'
import { dropForeignDependents, neutraliseCode } from './planted.js'
import { ident, literal } from './sql.js'

export interface NewSessionRole {
  role: string
  group: string
  verifier: string
  validUntil: Date
  connectionLimit: number
  comment: string
}

const DUPLICATE_OBJECT = '42710'
const UNDEFINED_OBJECT = '42704'

/** Idempotent on the role name: a retry resets the password and validity of the same role. */
export async function createSessionRole(c: pg.PoolClient, r: NewSessionRole): Promise<void> {
  const role = ident(r.role)
  const settings =
    `LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS ` +
    `CONNECTION LIMIT ${Math.trunc(r.connectionLimit)} PASSWORD ${literal(r.verifier)} ` +
    `VALID UNTIL ${literal(r.validUntil.toISOString())}`
  for (let attempt = 0; ; attempt++) {
    await c.query('BEGIN')
    try {
      const found = await c.query(
        `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists,
                current_setting('server_version_num')::int AS version`,
        [r.role],
      )
      const { exists, version } = found.rows[0] as { exists: boolean; version: number }
      if (!exists) await c.query(`CREATE ROLE ${role} WITH ${settings}`)
      else await c.query(`ALTER ROLE ${role} WITH ${settings}`)
      // The group's privileges, not its identity (16+): as the group, the session could make
      // objects (a SECURITY DEFINER function) that outlive it with the group's rights.
      await c.query(
        `GRANT ${ident(r.group)} TO ${role}${version >= 160_000 ? ' WITH INHERIT TRUE, SET FALSE' : ''}`,
      )
      await c.query(`COMMENT ON ROLE ${role} IS ${literal(r.comment)}`)
      await c.query('COMMIT')
      return
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {})
      // Created by a concurrent attempt between our check and CREATE: take the ALTER path.
      if ((e as { code?: string }).code !== DUPLICATE_OBJECT || attempt > 0) throw e
    }
  }
}

export interface Dropped {
  existed: boolean
  terminated: number
  /** Objects it owned in this database (reassigned or dropped). */
  owned: number
  /** Triggers that called its functions, now disabled (when its objects are reassigned). */
  disabled: number
  /** What others' tables held that depended on its objects, now removed (when they are dropped). */
  detached: number
}

const NOT_THERE: Dropped = { existed: false, terminated: 0, owned: 0, disabled: 0, detached: 0 }

/**
 * Blocks new logins, cuts open connections (waiting up to 1 s for each to end), hands what the
 * role owns to `reassignTo` (its functions made SECURITY INVOKER and not executable by PUBLIC
 * first) or drops it when null, and drops the role. Idempotent.
 */
export async function dropSessionRole(
  c: pg.PoolClient,
  roleName: string,
  reassignTo: string | null,
  /** Runs `fn` in another database of the server: where the role left objects outside its own. */
  elsewhere: (database: string, fn: (c: pg.ClientBase) => Promise<unknown>) => Promise<unknown>,
): Promise<Dropped> {
  const role = ident(roleName)
  const found = await c.query('SELECT oid FROM pg_roles WHERE rolname = $1', [roleName])
  if (found.rowCount === 0) return NOT_THERE
  const oid = found.rows[0].oid as number
  try {
    await c.query(`ALTER ROLE ${role} NOLOGIN`)
    const cut = await terminate(c, oid)
    const owned = await c.query(
      `SELECT count(*)::int AS n FROM pg_shdepend
        WHERE refobjid = $1 AND deptype = 'o'
          AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [oid],
    )
    // Objects in another database (a large object made where PUBLIC may connect) would keep the
    // role from being dropped, forever: they were never the session's to keep, so they go.
    const others = await c.query(
      `SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
        WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = $1
          AND d.datname <> current_database()`,
      [oid],
    )
    for (const row of others.rows as { datname: string }[])
      await elsewhere(row.datname, async (x) => {
        await unlinkLargeObjects(x, oid)
        await x.query(`DROP OWNED BY ${role}`)
      })
    // REASSIGN would hand the owner the session's grants too, as the owner's own: undo them first.
    if (reassignTo !== null) await revokeGrantsOnOwned(c, oid)
    else await unlinkLargeObjects(c, oid)
    let disabled = 0
    let detached = 0
    await c.query('BEGIN')
    try {
      if (reassignTo !== null) {
        // A login that raced NOLOGIN may have granted again since.
        const left = await grantsOnOwned(c, oid)
        if (left > 0) throw err.unavailable(`${left} privilege(s) granted by the session role remain`)
        disabled = await neutraliseCode(c, oid, roleName)
        await c.query(`REASSIGN OWNED BY ${role} TO ${ident(reassignTo)}`)
      } else detached = await dropForeignDependents(c, oid)
      // After REASSIGN this only revokes privileges granted to the role itself.
      await c.query(`DROP OWNED BY ${role}`)
      await c.query(`DROP ROLE ${role}`)
      await c.query('COMMIT')
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {})
      throw e
    }
    // A login that raced the NOLOGIN above would still be running under the dropped role's oid.
    const late = await terminate(c, oid)
    return { existed: true, terminated: cut + late, owned: owned.rows[0].n as number, disabled, detached }
  } catch (e) {
    // Dropped meanwhile by a concurrent revoke or reap: the outcome we wanted.
    if ((e as { code?: string }).code === UNDEFINED_OBJECT) return NOT_THERE
    throw e
  }
}

/**
 * The ACL of everything role `o` owns in the current database (and of databases it owns), each
 * with the object as REVOKE names it. Column privileges count as their table's.
 */
const ownedAcls = (o: number): string => `
  SELECT 'TABLE ' || c.oid::regclass AS obj, c.relacl AS acl FROM pg_class c
   WHERE c.relowner = ${o} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  UNION ALL SELECT 'SEQUENCE ' || c.oid::regclass, c.relacl FROM pg_class c
   WHERE c.relowner = ${o} AND c.relkind = 'S'
  UNION ALL SELECT 'TABLE ' || c.oid::regclass, a.attacl FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE c.relowner = ${o} AND a.attacl IS NOT NULL
  UNION ALL SELECT 'SCHEMA ' || quote_ident(nspname), nspacl FROM pg_namespace WHERE nspowner = ${o}
  UNION ALL SELECT 'ROUTINE ' || oid::regprocedure, proacl FROM pg_proc WHERE proowner = ${o}
  UNION ALL SELECT 'TYPE ' || oid::regtype, typacl FROM pg_type WHERE typowner = ${o}
  UNION ALL SELECT 'LARGE OBJECT ' || oid, lomacl FROM pg_largeobject_metadata WHERE lomowner = ${o}
  UNION ALL SELECT 'LANGUAGE ' || quote_ident(lanname), lanacl FROM pg_language WHERE lanowner = ${o}
  UNION ALL SELECT 'FOREIGN DATA WRAPPER ' || quote_ident(fdwname), fdwacl FROM pg_foreign_data_wrapper
   WHERE fdwowner = ${o}
  UNION ALL SELECT 'FOREIGN SERVER ' || quote_ident(srvname), srvacl FROM pg_foreign_server WHERE srvowner = ${o}
  UNION ALL SELECT 'DATABASE ' || quote_ident(datname), datacl FROM pg_database WHERE datdba = ${o}`

/** A REVOKE for each role (or PUBLIC) other than `o` holding a privilege on what `o` owns. */
const revokesOnOwned = (o: number): string => `
  SELECT DISTINCT format('REVOKE ALL ON %s FROM %s CASCADE', a.obj,
         CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(g.rolname) END) AS sql
    FROM (${ownedAcls(o)}) a, aclexplode(a.acl) e LEFT JOIN pg_roles g ON g.oid = e.grantee
   WHERE e.grantee <> ${o}`

const REVOKE_BATCH = 500

/**
 * Unlinks the role's large objects in batches. DROP OWNED locks each object it drops in one
 * transaction, and any role may make large objects, more than the lock table holds: the
 * revocation would fail every time.
 */
async function unlinkLargeObjects(c: pg.ClientBase, oid: number): Promise<void> {
  for (;;) {
    const r = await c.query(
      `SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE lomowner = $1 LIMIT ${REVOKE_BATCH}`,
      [oid],
    )
    if ((r.rowCount ?? 0) < REVOKE_BATCH) return
  }
}

/** How many grants on what the role owns are held by anyone but the role itself. */
export async function grantsOnOwned(c: pg.ClientBase, oid: number): Promise<number> {
  const r = await c.query(`SELECT count(*)::int AS n FROM (${revokesOnOwned(Number(oid))}) r`)
  return r.rows[0].n as number
}

/**
 * Revokes every privilege anyone but the role itself holds on what the role owns: whatever it
 * granted (to PUBLIC, to a role, with grant option and passed on). Its default privileges need
 * nothing: DROP OWNED removes them, and what they granted is on its objects. Throws when a round
 * takes nothing back, so the revocation is retried rather than reported done.
 */
export async function revokeGrantsOnOwned(c: pg.ClientBase, oid: number): Promise<void> {
  const o = Number(oid)
  // Run as (or for) the owner, a REVOKE takes back the owner's grants; CASCADE, what those
  // grantees passed on. Each REVOKE locks its object, and a session may own many (large objects
  // cost nothing to make): batches, each its own transaction, keep within the lock table.
  for (let left = await grantsOnOwned(c, o); left > 0;) {
    await c.query(`DO $airlock$ DECLARE s text; BEGIN
      FOR s IN ${revokesOnOwned(o)} LIMIT ${REVOKE_BATCH} LOOP EXECUTE s; END LOOP; END $airlock$`)
    const now = await grantsOnOwned(c, o)
    if (now >= left) throw err.unavailable(`${now} privilege(s) granted by the session role remain`)
    left = now
  }
}

async function terminate(c: pg.PoolClient, oid: number): Promise<number> {
  const r = await c.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE usesysid = $1 AND pid <> pg_backend_pid()`,
    [oid],
  )
  if (!r.rowCount) return 0
  // Wait for the backends to exit (pg_terminate_backend's own timeout polls in 100 ms steps).
  const deadline = Date.now() + 1000
  for (;;) {
    const left = await c.query(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usesysid = $1 AND pid <> pg_backend_pid()',
      [oid],
    )
    if (left.rows[0].n === 0) return r.rowCount
    if (Date.now() > deadline) throw err.unavailable(`${left.rows[0].n} connection(s) did not end within 1 s`)
    await sleep(5)
  }
}

export interface SessionRoleRow {
  role: string
  groups: string[]
}

/** This deployment's session roles on the server, with the groups each belongs to. */
export async function listSessionRoles(c: pg.PoolClient, pattern: string): Promise<SessionRoleRow[]> {
  const r = await c.query(
    `SELECT r.rolname AS role, coalesce(array_agg(g.rolname::text) FILTER (WHERE g.rolname IS NOT NULL), '{}'::text[]) AS groups
       FROM pg_roles r
       LEFT JOIN pg_auth_members m ON m.member = r.oid
       LEFT JOIN pg_roles g ON g.oid = m.roleid
      WHERE r.rolname LIKE $1
      GROUP BY r.rolname`,
    [pattern],
  )
  return r.rows as SessionRoleRow[]
}
