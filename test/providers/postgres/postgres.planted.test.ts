// Code and settings a destructive postgres session leaves behind must not outlive it with more
// rights: after revocation, what it planted (triggers, defaults, functions, the owner's default
// privileges) never runs as, or grants for, the owner, its application or a later session.
import type pg from 'pg'
import { afterAll, beforeAll, beforeEach, describe, expect, it, inject } from 'vitest'
import type { Provider } from '../../../providers/types.js'
import {
  buildProvider,
  issueInput,
  MapSecrets,
  suffix,
  type PgCredentials,
} from '../../support/pg-provider.js'
import { cleanup, connectAs, rolesLike, sqlState, withPg } from '../../support/postgres.js'
import { err } from '../../../src/errors.js'
import { memoryProviderState } from '../../../src/store/provider-state.js'

const url = inject('pgUrl')
const sfx = suffix()
const DB = `air_plant_${sfx}`
const OWNER = `app_owner_plant_${sfx}`
const OUTSIDER = `outsider_plant_${sfx}`
const PERMISSION = '42501'
const secrets = new MapSecrets(new Map([['vault:pg/admin', url]]))
let p: Provider
let tag = ''

const issue = async (operationClass: string) => {
  const input = issueInput({ operationClass })
  const r = await p.issue(input)
  const cred = r.credentials as unknown as PgCredentials
  return { cred, revoke: () => p.revoke({ ...input, handle: r.handle }) }
}

/** Runs `fn` in the app database as the owner role, as the owner's application would. */
const asOwner = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> =>
  withPg(url, DB, async (c) => {
    await c.query(`SET ROLE ${OWNER}`)
    return fn(c)
  })
const tableExists = (table: string) =>
  withPg(url, DB, async (c) => (await c.query('SELECT to_regclass($1) AS t', [table])).rows[0].t !== null)

/** A destructive session runs `sql`, then is revoked. */
async function plant(...sql: string[]): Promise<void> {
  const { cred, revoke } = await issue('destructive')
  const c = await connectAs(cred)
  try {
    for (const s of sql) expect(await sqlState(c, s), s).toBe('ok')
  } finally {
    await c.end()
  }
  await revoke()
}

beforeAll(async () => {
  await withPg(url, 'postgres', async (c) => {
    await c.query(`CREATE ROLE ${OWNER} NOLOGIN`)
    await c.query(`CREATE ROLE ${OUTSIDER} NOLOGIN`)
    await c.query(`CREATE DATABASE ${DB}`)
  })
  await withPg(url, DB, async (c) => {
    await c.query(`GRANT CREATE ON SCHEMA public TO ${OWNER}`)
    await c.query(`SET ROLE ${OWNER}`)
    await c.query('CREATE TABLE items (id serial PRIMARY KEY, name text)')
  })
  p = buildProvider(
    {
      deployment_id: `planted-test-${sfx}`,
      environments: { staging: { connection: 'vault:pg/admin', database: DB, owner: OWNER } },
    },
    { secrets, environments: ['staging'] },
  )
  await p.setup()
  tag = (await issue('read')).cred.username.split('_')[1] as string
})

beforeEach(async () => {
  await asOwner((c) => c.query('DROP TABLE IF EXISTS guarded; CREATE TABLE guarded (id int)'))
})

afterAll(async () => {
  await p?.close()
  await cleanup(url, [DB], [`airlock_${tag}_`, OWNER, OUTSIDER])
})

describe('code a session planted', () => {
  it("a trigger it put on the owner's table never runs its function once it is revoked", async () => {
    await plant(
      `CREATE FUNCTION plant() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
         AS $$ BEGIN EXECUTE 'DROP TABLE guarded'; RETURN NEW; END $$`,
      'CREATE TRIGGER planted BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION plant()',
    )
    // A later write session, then the owner's application, write to the table.
    const { cred, revoke } = await issue('write')
    const w = await connectAs(cred)
    expect(await sqlState(w, `INSERT INTO items (name) VALUES ('by a write session')`)).toBe('ok')
    await w.end()
    await revoke()
    expect(await asOwner((c) => sqlState(c, `INSERT INTO items (name) VALUES ('by the app')`))).toBe('ok')
    expect(await tableExists('guarded')).toBe(true)
    // Kept for review, disabled.
    const trigger = await withPg(url, DB, async (c) => {
      const r = await c.query(`SELECT tgenabled FROM pg_trigger WHERE tgname = 'planted'`)
      return r.rows[0]?.tgenabled as string
    })
    expect(trigger).toBe('D')
  })

  it("a column default calling its function does not run as the owner's application", async () => {
    await plant(
      `CREATE FUNCTION pick() RETURNS text LANGUAGE plpgsql
         AS $$ BEGIN EXECUTE 'DROP TABLE guarded'; RETURN 'x'; END $$`,
      'ALTER TABLE items ALTER COLUMN name SET DEFAULT pick()',
    )
    expect(await asOwner((c) => sqlState(c, 'INSERT INTO items DEFAULT VALUES'))).toBe(PERMISSION)
    expect(await tableExists('guarded')).toBe(true)
    await asOwner((c) => c.query('ALTER TABLE items ALTER COLUMN name DROP DEFAULT'))
  })

  it('what a migration made stays: its tables and rows are kept, its code kept but inert until reviewed', async () => {
    await plant(
      'CREATE TABLE made (id int, at timestamptz)',
      `CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.at = now(); RETURN NEW; END $$`,
      'CREATE TRIGGER stamped BEFORE INSERT ON made FOR EACH ROW EXECUTE FUNCTION stamp()',
      'INSERT INTO made (id) VALUES (1)',
      'CREATE VIEW made_view AS SELECT * FROM made',
      `CREATE FUNCTION via_view() RETURNS trigger LANGUAGE plpgsql
         AS $$ BEGIN EXECUTE 'DROP TABLE guarded'; RETURN NEW; END $$`,
      'CREATE TRIGGER instead INSTEAD OF INSERT ON made_view FOR EACH ROW EXECUTE FUNCTION via_view()',
      'CREATE AGGREGATE total(int) (sfunc = int4pl, stype = int)',
      'CREATE PROCEDURE tidy() LANGUAGE sql SECURITY DEFINER AS $$ DELETE FROM made WHERE false $$',
    )
    const state = await withPg(url, DB, async (c) => {
      const r = await c.query(
        `SELECT (SELECT tableowner FROM pg_tables WHERE tablename = 'made') AS owner,
                (SELECT count(*)::int FROM made WHERE at IS NOT NULL) AS rows,
                (SELECT tgenabled FROM pg_trigger WHERE tgname = 'stamped') AS trigger,
                (SELECT count(*)::int FROM pg_trigger WHERE tgname = 'instead') AS on_view,
                has_function_privilege($1, 'stamp()', 'EXECUTE') AS executable,
                (SELECT count(*)::int FROM pg_proc WHERE proname IN ('total', 'tidy')
                    AND (prosecdef OR has_function_privilege($1, oid, 'EXECUTE'))) AS callable`,
        [OWNER],
      )
      return r.rows[0]
    })
    expect(state).toEqual({ owner: OWNER, rows: 1, trigger: 'D', on_view: 0, executable: false, callable: 0 })
    const { cred, revoke } = await issue('write')
    const w = await connectAs(cred)
    expect(await sqlState(w, 'INSERT INTO made (id) VALUES (2)')).toBe('ok')
    expect(await sqlState(w, 'INSERT INTO made_view (id) VALUES (3)')).toBe('ok')
    await w.end()
    await revoke()
    expect(await tableExists('guarded')).toBe(true)
  })

  it("on_revoke: drop also takes what it hung on the owner's table, and keeps the table's data", async () => {
    const q = buildProvider(
      {
        deployment_id: `planted-test-${sfx}`,
        on_revoke: 'drop',
        environments: { staging: { connection: 'vault:pg/admin', database: DB, owner: OWNER } },
      },
      { secrets, environments: ['staging'] },
    )
    try {
      const input = issueInput({ operationClass: 'destructive' })
      const r = await q.issue(input)
      const c = await connectAs(r.credentials as unknown as PgCredentials)
      for (const sql of [
        `CREATE FUNCTION gone() RETURNS trigger LANGUAGE plpgsql
           AS $$ BEGIN EXECUTE 'DROP TABLE guarded'; RETURN NEW; END $$`,
        'CREATE TRIGGER gone BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION gone()',
        `CREATE FUNCTION label() RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$`,
        'ALTER TABLE items ADD COLUMN label text DEFAULT label()',
        `CREATE FUNCTION ok(text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$`,
        'ALTER TABLE items ADD CONSTRAINT label_ok CHECK (ok(label))',
        'CREATE POLICY mine ON items USING (ok(name))',
        'CREATE TABLE kinds (id int PRIMARY KEY)',
        'INSERT INTO kinds VALUES (1)',
        'ALTER TABLE items ADD COLUMN kind int REFERENCES kinds',
      ])
        expect(await sqlState(c, sql), sql).toBe('ok')
      await c.end()
      await q.revoke({ ...input, handle: r.handle })
    } finally {
      await q.close()
    }
    const left = await withPg(url, DB, async (c) => {
      const r = await c.query(
        `SELECT (SELECT count(*)::int FROM pg_trigger WHERE tgname = 'gone') AS triggers,
                (SELECT count(*)::int FROM pg_policy WHERE polname = 'mine') AS policies,
                (SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'items'::regclass AND contype IN ('c', 'f')) AS constraints,
                (SELECT count(*)::int FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname IN ('label', 'kind')) AS columns,
                to_regclass('kinds') AS kinds`,
      )
      return r.rows[0]
    })
    expect(left).toEqual({ triggers: 0, policies: 0, constraints: 0, columns: 2, kinds: null })
    expect(await asOwner((c) => sqlState(c, `UPDATE items SET name = 'z'`))).toBe('ok')
    expect(await tableExists('guarded')).toBe(true)
    await asOwner((c) => c.query('ALTER TABLE items DROP COLUMN label, DROP COLUMN kind'))
  })
})

describe('objects a session made', () => {
  it("a view or a rule it made never lends a later session the owner's rights", async () => {
    // The owner's table outside the managed schemas: no class may touch it.
    await withPg(url, DB, (c) => c.query(`CREATE SCHEMA private AUTHORIZATION ${OWNER}`))
    await asOwner(async (c) => {
      await c.query('CREATE TABLE private.secret (v text)')
      await c.query(`INSERT INTO private.secret VALUES ('s3cret')`)
    })
    await plant(
      'CREATE VIEW peek AS SELECT v FROM private.secret',
      'CREATE TABLE inbox (id int)',
      'CREATE RULE wipe AS ON INSERT TO inbox DO ALSO DELETE FROM private.secret',
      'CREATE RULE wipe_through AS ON DELETE TO peek DO INSTEAD DELETE FROM private.secret',
    )
    const read = await issue('read')
    const r = await connectAs(read.cred)
    expect(await sqlState(r, 'SELECT * FROM peek')).toBe(PERMISSION)
    await r.end()
    await read.revoke()
    const write = await issue('write')
    const w = await connectAs(write.cred)
    expect(await sqlState(w, 'INSERT INTO inbox VALUES (1)')).toBe('ok')
    expect(await sqlState(w, 'DELETE FROM peek')).not.toBe('ok')
    await w.end()
    await write.revoke()
    const left = await withPg(
      url,
      DB,
      async (c) => (await c.query('SELECT count(*)::int AS n FROM private.secret')).rows[0].n,
    )
    expect(left).toBeGreaterThan(0)
  })
})

describe("the owner's default privileges", () => {
  it('what a session set for the owner does not reach what the owner creates later; what was there stays', async () => {
    // The owner's own setting, made before the session: kept.
    await asOwner((c) =>
      c.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${OUTSIDER}`),
    )
    await plant(
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${OWNER} GRANT ALL ON TABLES TO PUBLIC`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${OWNER} IN SCHEMA public GRANT ALL ON TABLES TO ${OUTSIDER}`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${OWNER} GRANT EXECUTE ON FUNCTIONS TO ${OUTSIDER} WITH GRANT OPTION`,
    )
    await asOwner(async (c) => {
      await c.query('CREATE TABLE later_made (id int)')
      await c.query('CREATE FUNCTION later_fn() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$')
    })
    const acl = await withPg(url, DB, async (c) => {
      const r = await c.query(
        `SELECT has_table_privilege($1, 'later_made', 'SELECT') AS outsider_select,
                has_table_privilege($1, 'later_made', 'DELETE') AS outsider_delete,
                (SELECT count(*)::int FROM aclexplode((SELECT relacl FROM pg_class WHERE relname = 'later_made')) e
                  WHERE e.grantee = 0) AS public_on_table,
                (SELECT array_agg(coalesce(g.rolname, 'PUBLIC') ORDER BY 1)
                   FROM aclexplode((SELECT proacl FROM pg_proc WHERE proname = 'later_fn')) e
                   LEFT JOIN pg_roles g ON g.oid = e.grantee) AS on_function`,
        [OUTSIDER],
      )
      return r.rows[0]
    })
    expect(acl).toEqual({
      outsider_select: true,
      outsider_delete: false,
      public_on_table: 0,
      // No ACL of its own: PostgreSQL's default for functions (EXECUTE for PUBLIC and the owner).
      on_function: null,
    })
  })
})

describe("grants on the owner's objects", () => {
  it("a destructive session is not issued when the owner's grants cannot be recorded", async () => {
    const down = memoryProviderState()('app-db')
    down.zadd = async () => {
      throw err.unavailable('the store cannot be written')
    }
    const q = buildProvider(
      {
        deployment_id: `planted-test-${sfx}`,
        environments: { staging: { connection: 'vault:pg/admin', database: DB, owner: OWNER } },
      },
      { secrets, environments: ['staging'], state: down },
    )
    try {
      const input = issueInput({ operationClass: 'destructive' })
      await expect(q.issue(input)).rejects.toMatchObject({ code: 'unavailable' })
      expect(await rolesLike(url, `airlock_${tag}_${input.sessionId}`)).toEqual([])
    } finally {
      await q.close()
    }
  })

  it('what a session granted as the owner is revoked with it; what the owner granted before stays', async () => {
    await asOwner((c) => c.query(`GRANT SELECT ON items TO ${OUTSIDER}`))
    await plant(
      'GRANT ALL ON items TO PUBLIC',
      `GRANT UPDATE (name) ON items TO ${OUTSIDER} WITH GRANT OPTION`,
      `GRANT SELECT ON items TO ${OUTSIDER} WITH GRANT OPTION`,
    )
    const { cred, revoke } = await issue('read')
    const r = await connectAs(cred)
    expect(await sqlState(r, 'TRUNCATE items')).toBe(PERMISSION)
    await r.end()
    await revoke()
    const acl = await withPg(url, DB, async (c) => {
      const x = await c.query(
        `SELECT has_table_privilege($1, 'items', 'SELECT') AS select,
                has_table_privilege($1, 'items', 'SELECT WITH GRANT OPTION') AS grant_option,
                has_column_privilege($1, 'items', 'name', 'UPDATE') AS update_name,
                (SELECT count(*)::int FROM aclexplode((SELECT relacl FROM pg_class WHERE relname = 'items')) e
                  WHERE e.grantee = 0) AS public`,
        [OUTSIDER],
      )
      return x.rows[0]
    })
    expect(acl).toEqual({ select: true, grant_option: false, update_name: false, public: 0 })
  })
})
