// What a session granted as the roles it acts for. A destructive session holds the owner's
// privileges, and that is enough to GRANT on the owner's objects and to run ALTER DEFAULT
// PRIVILEGES FOR ROLE <owner>: the owner's tables, and every table it creates afterwards, would be
// granted to PUBLIC or to a role of the session's choosing, recorded as the owner's own grants.
// Those roles' privileges are recorded when the session is issued, and whatever was added since,
// on the objects that existed then and in their default privileges, is revoked with the session.
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

/** The objects the roles own whose ACLs are compared, with what REVOKE names each. */
const OBJECTS = `
  SELECT 'pg_class'::regclass::oid AS cls, c.oid, 0 AS sub, c.relowner AS owner,
         CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END AS t, c.relacl AS acl,
         CASE WHEN c.relkind = 'S' THEN 'SEQUENCE ' ELSE 'TABLE ' END || c.oid::regclass AS target,
         NULL::name AS col
    FROM pg_class c WHERE c.relowner = ANY($1::oid[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  UNION ALL
  SELECT 'pg_class'::regclass::oid, c.oid, a.attnum, c.relowner, 'c', a.attacl, 'TABLE ' || c.oid::regclass, a.attname
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE c.relowner = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped AND a.attacl IS NOT NULL
  UNION ALL
  SELECT 'pg_namespace'::regclass::oid, n.oid, 0, n.nspowner, 'n', n.nspacl, 'SCHEMA ' || quote_ident(n.nspname), NULL
    FROM pg_namespace n WHERE n.nspowner = ANY($1::oid[])
  UNION ALL
  SELECT 'pg_proc'::regclass::oid, p.oid, 0, p.proowner, 'f', p.proacl, 'ROUTINE ' || p.oid::regprocedure, NULL
    FROM pg_proc p WHERE p.proowner = ANY($1::oid[])
  UNION ALL
  SELECT 'pg_type'::regclass::oid, y.oid, 0, y.typowner, 'T', y.typacl, 'TYPE ' || y.oid::regtype, NULL
    FROM pg_type y WHERE y.typowner = ANY($1::oid[]) AND y.typtype IN ('d', 'e', 'r', 'm')`

interface Grant {
  key: string
  plain: string
  /** The object's marker: it existed when the snapshot was taken. */
  marker: string
  statement: (option: string) => string | null
}

/**
 * Every privilege the roles granted on their objects (a NULL ACL as PostgreSQL's default), one
 * item each. What others passed on with a grant option is theirs: revoking the option takes it.
 */
async function grants(c: pg.ClientBase, roles: number[]): Promise<{ markers: string[]; items: Grant[] }> {
  const r = await c.query(
    `WITH o AS (${OBJECTS})
     SELECT o.cls::bigint AS cls, o.oid::bigint AS oid, o.sub, o.target, o.col, e.grantee::bigint AS grantee,
            e.privilege_type AS privilege, e.is_grantable AS grantable, g.rolname AS grantee_name
       FROM o LEFT JOIN LATERAL (SELECT * FROM aclexplode(coalesce(o.acl, acldefault(o.t::"char", o.owner))) x
                                  WHERE x.grantor = o.owner) e ON true
       LEFT JOIN pg_roles g ON g.oid = e.grantee`,
    [roles],
  )
  const markers = new Set<string>()
  const items: Grant[] = []
  for (const x of r.rows) {
    const marker = `m:${x.cls}:${x.oid}`
    markers.add(marker)
    if (x.privilege === null) continue
    const plain = `o:${x.cls}:${x.oid}:${x.sub}:${x.grantee}:${x.privilege}`
    const gone = Number(x.grantee) !== 0 && x.grantee_name === null
    const to = Number(x.grantee) === 0 ? 'PUBLIC' : ident(x.grantee_name ?? '')
    const col = x.col === null ? '' : ` (${ident(x.col)})`
    items.push({
      key: `${plain}:${x.grantable ? 'g' : '-'}`,
      plain,
      marker,
      statement: (option) =>
        gone ? null : `REVOKE ${option}${x.privilege}${col} ON ${x.target} FROM ${to} CASCADE`,
    })
  }
  return { markers: [...markers], items }
}

/**
 * The default privileges of every role the group's members may act for (the owner, for a
 * destructive class), or null when it acts for nobody but itself. What `undoOwnerAcls` takes.
 */
export async function ownerAclSnapshot(c: pg.ClientBase, group: string): Promise<string[] | null> {
  const r = await c.query(
    `SELECT coalesce(array_agg(oid::bigint ORDER BY oid), '{}') AS roles FROM pg_roles
      WHERE rolname <> $1 AND pg_has_role($1::name, oid, 'MEMBER')`,
    [group],
  )
  const roles = (r.rows[0].roles as string[]).map(Number)
  if (roles.length === 0) return null
  const objects = await grants(c, roles)
  return [
    `${ROLES}${roles.join(',')}`,
    ...(await items(c, roles)).map((i) => i.key),
    ...objects.markers,
    ...objects.items.map((i) => i.key),
  ]
}

/**
 * Revokes every default privilege of the snapshot's roles that the snapshot does not hold, and
 * returns the statements it ran. Throws if any is left, so the revocation is retried.
 */
export async function undoOwnerAcls(c: pg.ClientBase, snapshot: string[]): Promise<string[]> {
  const head = snapshot.find((m) => m.startsWith(ROLES))
  if (head === undefined) return []
  const roles = head.slice(ROLES.length).split(',').map(Number)
  const before = new Set(snapshot)
  const plainBefore = new Set(snapshot.map((k) => k.slice(0, k.lastIndexOf(':'))))
  // An entry for a role that no longer exists goes with the role.
  const added = async () =>
    (await items(c, roles)).filter((i) => !before.has(i.key) && (i.grantee === 0 || i.granteeName !== null))
  // Privileges on objects made since are the session's own business (revoked as its objects').
  const granted = async () =>
    (await grants(c, roles)).items.filter(
      (i) => before.has(i.marker) && !before.has(i.key) && i.statement('') !== null,
    )
  const option = (i: { plain: string }, grantable: boolean) =>
    grantable && plainBefore.has(i.plain) ? 'GRANT OPTION FOR ' : ''
  const statements = (await added()).map((i) => {
    const to = i.grantee === 0 ? 'PUBLIC' : ident(i.granteeName ?? '')
    const where = i.schema === null ? '' : ` IN SCHEMA ${ident(i.schema)}`
    return `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(i.role)}${where} REVOKE ${option(i, i.grantable)}${i.privilege} ON ${KINDS[i.kind]?.[0]} FROM ${to}`
  })
  for (const i of await granted()) {
    const s = i.statement(option(i, i.key.endsWith(':g')))
    if (s !== null) statements.push(s)
  }
  if (statements.length === 0) return []
  await c.query('BEGIN')
  try {
    for (const s of statements) await c.query(s)
    const left = (await added()).length + (await granted()).length
    if (left > 0) throw err.unavailable(`${left} privilege(s) granted during the session remain`)
    await c.query('COMMIT')
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {})
    throw e
  }
  return statements
}
