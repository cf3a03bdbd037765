// Default privileges a session set for the roles it acts for. A destructive session holds the
// owner's privileges, and that is enough to run ALTER DEFAULT PRIVILEGES FOR ROLE <owner>: every
// table the owner creates afterwards would be granted to PUBLIC, or to a role of the session's
// choosing. What those roles' default privileges were when the session was issued is kept, and
// whatever was added since is revoked with the session.
import { err } from '../../src/errors.js'
import type pg from 'pg'
import { ident } from './sql.js'

/** pg_default_acl.defaclobjtype: what ALTER DEFAULT PRIVILEGES calls it, and its acldefault() type. */
const KINDS: Record<string, [string, string]> = {
  r: ['TABLES', 'r'],
  S: ['SEQUENCES', 's'],
  f: ['FUNCTIONS', 'f'],
  T: ['TYPES', 'T'],
  n: ['SCHEMAS', 'n'],
  L: ['LARGE OBJECTS', 'L'],
}
const ROLES = 'roles:'

interface Item {
  key: string
  /** The same privilege without its grant option. */
  plain: string
  role: string
  schema: string | null
  kind: string
  grantee: number
  granteeName: string | null
  privilege: string
  grantable: boolean
}

/**
 * Every default privilege of the roles, one item each. A role without its own global entry for a
 * kind has PostgreSQL's built-in default for it, which is listed too, so that a first global
 * entry only shows what it adds.
 */
async function items(c: pg.ClientBase, roles: number[]): Promise<Item[]> {
  const kinds = Object.entries(KINDS).map(([t, [, a]]) => `('${t}', '${a}')`)
  const r = await c.query(
    `WITH roles AS (SELECT unnest($1::oid[]) AS r),
          kinds(t, a) AS (VALUES ${kinds.join(', ')}),
          acls AS (
            SELECT roles.r, 0::oid AS nsp, kinds.t,
                   coalesce(d.defaclacl, acldefault(kinds.a::"char", roles.r)) AS acl
              FROM roles CROSS JOIN kinds
              LEFT JOIN pg_default_acl d
                ON d.defaclrole = roles.r AND d.defaclnamespace = 0 AND d.defaclobjtype = kinds.t::"char"
            UNION ALL
            SELECT d.defaclrole, d.defaclnamespace, d.defaclobjtype::text, d.defaclacl FROM pg_default_acl d
             WHERE d.defaclrole = ANY($1::oid[]) AND d.defaclnamespace <> 0)
     SELECT a.r::bigint AS role_oid, a.nsp::bigint AS nsp, a.t AS kind, e.grantee::bigint AS grantee,
            e.privilege_type AS privilege, e.is_grantable AS grantable, pg_get_userbyid(a.r) AS role,
            n.nspname AS schema, g.rolname AS grantee_name
       FROM acls a CROSS JOIN LATERAL aclexplode(a.acl) e
       LEFT JOIN pg_namespace n ON n.oid = a.nsp
       LEFT JOIN pg_roles g ON g.oid = e.grantee`,
    [roles],
  )
  return r.rows.map((x) => {
    const plain = `${x.role_oid}:${x.nsp}:${x.kind}:${x.grantee}:${x.privilege}`
    return {
      key: `${plain}:${x.grantable ? 'g' : '-'}`,
      plain,
      role: x.role,
      schema: x.schema,
      kind: x.kind,
      grantee: Number(x.grantee),
      granteeName: x.grantee_name,
      privilege: x.privilege,
      grantable: x.grantable,
    }
  })
}

/**
 * The default privileges of every role the group's members may act for (the owner, for a
 * destructive class), or null when it acts for nobody but itself. What `undoDefaultAcls` takes.
 */
export async function defaultAclSnapshot(c: pg.ClientBase, group: string): Promise<string[] | null> {
  const r = await c.query(
    `SELECT coalesce(array_agg(oid::bigint ORDER BY oid), '{}') AS roles FROM pg_roles
      WHERE rolname <> $1 AND pg_has_role($1::name, oid, 'MEMBER')`,
    [group],
  )
  const roles = (r.rows[0].roles as string[]).map(Number)
  if (roles.length === 0) return null
  return [`${ROLES}${roles.join(',')}`, ...(await items(c, roles)).map((i) => i.key)]
}

/**
 * Revokes every default privilege of the snapshot's roles that the snapshot does not hold, and
 * returns the statements it ran. Throws if any is left, so the revocation is retried.
 */
export async function undoDefaultAcls(c: pg.ClientBase, snapshot: string[]): Promise<string[]> {
  const head = snapshot.find((m) => m.startsWith(ROLES))
  if (head === undefined) return []
  const roles = head.slice(ROLES.length).split(',').map(Number)
  const before = new Set(snapshot)
  const plainBefore = new Set(snapshot.map((k) => k.slice(0, k.lastIndexOf(':'))))
  // An entry for a role that no longer exists goes with the role.
  const added = async () =>
    (await items(c, roles)).filter((i) => !before.has(i.key) && (i.grantee === 0 || i.granteeName !== null))
  const statements = (await added()).map((i) => {
    const to = i.grantee === 0 ? 'PUBLIC' : ident(i.granteeName ?? '')
    const option = i.grantable && plainBefore.has(i.plain) ? 'GRANT OPTION FOR ' : ''
    const where = i.schema === null ? '' : ` IN SCHEMA ${ident(i.schema)}`
    return `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(i.role)}${where} REVOKE ${option}${i.privilege} ON ${KINDS[i.kind]?.[0]} FROM ${to}`
  })
  if (statements.length === 0) return []
  await c.query('BEGIN')
  try {
    for (const s of statements) await c.query(s)
    const left = (await added()).length
    if (left > 0) throw err.unavailable(`${left} default privilege(s) set by the session remain`)
    await c.query('COMMIT')
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {})
    throw e
  }
  return statements
}
