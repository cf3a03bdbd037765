// What a session leaves behind that would run later with someone else's rights: its functions
// (called from triggers, defaults, policies, views, rules), its views and its rules. Handled just
// before its objects are reassigned to the owner, or dropped.
import { err } from '../../src/errors.js'
import type pg from 'pg'
import { literal } from './sql.js'

/**
 * Code the session wrote must not run with anyone else's rights once the owner has it. Its
 * functions run as their caller, and nobody but a superuser may call them (not even the owner,
 * until someone reviews them and grants EXECUTE): that stops a column default, policy, view,
 * index expression or rule calling one. A trigger runs its function without that check, whoever
 * writes to the table, so every trigger calling one of them is disabled (and kept for review).
 * Its views and rules are neutralised too (below).
 * Returns how many triggers it disabled.
 */
export async function neutraliseCode(c: pg.PoolClient, oid: number, roleName: string): Promise<number> {
  const o = Number(oid)
  await c.query(`DO $airlock$ DECLARE r regprocedure; BEGIN
    FOR r IN SELECT oid FROM pg_proc WHERE proowner = ${o} LOOP
      IF (SELECT prokind IN ('f', 'p') FROM pg_proc WHERE oid = r) THEN
        EXECUTE format('ALTER ROUTINE %s SECURITY INVOKER', r);
      END IF;
      EXECUTE format('REVOKE ALL ON ROUTINE %s FROM PUBLIC, %I', r, ${literal(roleName)});
    END LOOP; END $airlock$`)
  // A view and a rule act on tables with their owner's rights, whoever uses them: a view of the
  // session's reads as its reader (15+), and a rule on the session's tables is disabled (on its
  // views, which cannot disable one, dropped).
  const version = Number((await c.query('SHOW server_version_num')).rows[0].server_version_num)
  if (version >= 150_000)
    await c.query(`DO $airlock$ DECLARE v regclass; BEGIN
      FOR v IN SELECT oid FROM pg_class WHERE relowner = ${o} AND relkind = 'v' LOOP
        EXECUTE format('ALTER VIEW %s SET (security_invoker = true)', v);
      END LOOP; END $airlock$`)
  await c.query(`DO $airlock$ DECLARE s text; BEGIN
    FOR s IN SELECT CASE WHEN c.relkind = 'v'
        THEN format('DROP RULE %I ON %s', w.rulename, c.oid::regclass)
        ELSE format('ALTER TABLE %s DISABLE RULE %I', c.oid::regclass, w.rulename) END
      FROM pg_rewrite w JOIN pg_class c ON c.oid = w.ev_class
     WHERE c.relowner = ${o} AND w.rulename <> '_RETURN' AND w.ev_enabled <> 'D' LOOP
      EXECUTE s;
    END LOOP; END $airlock$`)
  // Disabling a partitioned table's trigger disables its partitions' clones too. A view's
  // (INSTEAD OF) trigger cannot be disabled: it is dropped.
  const planted = `FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_class r ON r.oid = t.tgrelid
    WHERE p.proowner = ${o} AND NOT t.tgisinternal AND (t.tgenabled <> 'D' OR r.relkind = 'v')`
  const r = await c.query(`SELECT CASE WHEN r.relkind = 'v'
      THEN format('DROP TRIGGER %I ON %s', t.tgname, r.oid::regclass)
      ELSE format('ALTER TABLE %s DISABLE TRIGGER %I', r.oid::regclass, t.tgname) END AS sql
    ${planted} AND t.tgparentid = 0`)
  for (const row of r.rows as { sql: string }[]) await c.query(row.sql)
  const left = await c.query(`SELECT count(*)::int AS n ${planted}`)
  if (left.rows[0].n > 0)
    throw err.unavailable(`${left.rows[0].n} trigger(s) calling the session's code stay enabled`)
  return r.rowCount ?? 0
}

/**
 * What others' tables hold that depends on the role's functions, tables or types, each with the
 * statement that removes it and keeps the table and its rows: a trigger, a policy, a constraint
 * (a foreign key into the session's table), a column default or generation expression, an index.
 */
const foreignDependents = `
  WITH mine AS (
    SELECT 'pg_proc'::regclass AS cls, oid FROM pg_proc WHERE proowner = $1
    UNION ALL SELECT 'pg_class'::regclass, oid FROM pg_class WHERE relowner = $1
    UNION ALL SELECT 'pg_type'::regclass, oid FROM pg_type WHERE typowner = $1),
  deps AS (
    SELECT DISTINCT d.classid, d.objid FROM pg_depend d
      JOIN mine m ON d.refclassid = m.cls AND d.refobjid = m.oid
     WHERE d.deptype = 'n')
  SELECT format('DROP TRIGGER %I ON %s', t.tgname, c.oid::regclass) AS sql
    FROM deps JOIN pg_trigger t ON deps.classid = 'pg_trigger'::regclass AND t.oid = deps.objid
    JOIN pg_class c ON c.oid = t.tgrelid
   WHERE c.relowner <> $1 AND NOT t.tgisinternal AND t.tgparentid = 0
  UNION ALL
  SELECT format('DROP POLICY %I ON %s', p.polname, c.oid::regclass)
    FROM deps JOIN pg_policy p ON deps.classid = 'pg_policy'::regclass AND p.oid = deps.objid
    JOIN pg_class c ON c.oid = p.polrelid
   WHERE c.relowner <> $1
  UNION ALL
  SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.oid::regclass, k.conname)
    FROM deps JOIN pg_constraint k ON deps.classid = 'pg_constraint'::regclass AND k.oid = deps.objid
    JOIN pg_class c ON c.oid = k.conrelid
   WHERE c.relowner <> $1 AND k.coninhcount = 0
  UNION ALL
  SELECT format(CASE WHEN a.attgenerated <> '' THEN 'ALTER TABLE %s ALTER COLUMN %I DROP EXPRESSION'
                     ELSE 'ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT' END, c.oid::regclass, a.attname)
    FROM deps JOIN pg_attrdef ad ON deps.classid = 'pg_attrdef'::regclass AND ad.oid = deps.objid
    JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
    JOIN pg_class c ON c.oid = ad.adrelid
   WHERE c.relowner <> $1
  UNION ALL
  SELECT format('DROP INDEX %s', i.oid::regclass)
    FROM deps JOIN pg_class i ON deps.classid = 'pg_class'::regclass AND i.oid = deps.objid
   WHERE i.relkind IN ('i', 'I') AND i.relowner <> $1`

/**
 * Before DROP OWNED (on_revoke: drop): removes what others' tables hold that depends on the
 * role's objects, which would keep DROP OWNED from ever succeeding. Returns how many it removed.
 */
export async function dropForeignDependents(c: pg.PoolClient, oid: number): Promise<number> {
  const r = await c.query(foreignDependents, [oid])
  for (const row of r.rows as { sql: string }[]) await c.query(row.sql)
  return r.rowCount ?? 0
}
