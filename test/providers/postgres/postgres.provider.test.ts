// The postgres provider against a real PostgreSQL (DATABASE_URL, or a throwaway cluster): two
// environments as two databases on one server, one group per environment and class, login roles
// per session that are confined, revocable and reaped. What needs passwords and VALID UNTIL
// enforced runs on a throwaway scram-sha-256 cluster (a trust-auth server accepts any password).
import { afterAll, beforeAll, describe, expect, it, inject, vi } from 'vitest'
import type { Provider } from '../../../providers/types.js'
import { LineSink } from '../../helper.js'
import {
  buildProvider,
  issueInput,
  MapSecrets,
  suffix,
  type PgCredentials,
} from '../../support/pg-provider.js'
import {
  cleanup,
  connectAs,
  createAppDatabases,
  ended,
  roleExists,
  rolesLike,
  sqlState,
  withPg,
  withUrl,
} from '../../support/postgres.js'
import { freePort } from '../../support/redis-server.js'

const url = inject('pgUrl')
const sfx = suffix()
const DB = { staging: `air_stg_${sfx}`, prod: `air_prd_${sfx}` }
const OWNER = { staging: `app_owner_stg_${sfx}`, prod: `app_owner_prd_${sfx}` }
const DEPLOYMENT = `provider-test-${sfx}`
const PERMISSION = '42501'
const logs = new LineSink()
const secrets = new MapSecrets(
  new Map([
    ['vault:pg/staging-admin', url],
    ['vault:pg/prod-admin', url],
  ]),
)
const section = (over: Record<string, unknown> = {}) => ({
  deployment_id: DEPLOYMENT,
  environments: {
    staging: { connection: 'vault:pg/staging-admin', database: DB.staging, owner: OWNER.staging },
    prod: { connection: 'vault:pg/prod-admin', database: DB.prod, owner: OWNER.prod },
  },
  ...over,
})
let p: Provider
let tag: string
let version = 0
const LOGIN_FAILED = ['28P01', '28000'] // wrong password; or, under trust, no such role
const made: Provider[] = []
const provider = (s: Record<string, unknown>, o: Partial<Parameters<typeof buildProvider>[1]> = {}) => {
  const x = buildProvider(s, { secrets, logs, ...o })
  made.push(x)
  return x
}

const issue = async (over: Parameters<typeof issueInput>[0] = {}, prov = p) => {
  const input = issueInput(over)
  const r = await prov.issue(input)
  return { input, cred: r.credentials as unknown as PgCredentials, handle: r.handle }
}

beforeAll(async () => {
  await withPg(url, 'postgres', async (c) => {
    for (const env of ['staging', 'prod'] as const) {
      await c.query(`CREATE ROLE ${OWNER[env]} NOLOGIN`)
      await c.query(`CREATE DATABASE ${DB[env]}`)
    }
  })
  for (const env of ['staging', 'prod'] as const) {
    await withPg(url, DB[env], async (c) => {
      await c.query(`CREATE TABLE items (id serial PRIMARY KEY, name text)`)
      await c.query(`CREATE TABLE scratch (id int)`)
      await c.query(`INSERT INTO items (name) VALUES ('a'), ('b')`)
      await c.query(`ALTER TABLE items OWNER TO ${OWNER[env]}`)
      await c.query(`ALTER TABLE scratch OWNER TO ${OWNER[env]}`)
    })
  }
  version = await withPg(url, 'postgres', async (c) =>
    Number((await c.query('SHOW server_version_num')).rows[0].server_version_num),
  )
  p = provider(section())
  await p.setup()
  tag = (await issue()).cred.username.split('_')[1] as string
})

afterAll(async () => {
  for (const x of made) await x.close()
  await cleanup(
    url,
    [DB.staging, DB.prod],
    [`airlock_${tag}_`, `app_owner_stg_${sfx}`, `app_owner_prd_${sfx}`],
  )
})

describe('groups', () => {
  it('one NOLOGIN group per environment and class, created idempotently on setup', async () => {
    await p.setup()
    await p.setup()
    const groups = await withPg(url, 'postgres', async (c) => {
      const r = await c.query(
        `SELECT rolname, rolcanlogin FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1`,
        [`airlock_${tag}_grp_`],
      )
      return r.rows as { rolname: string; rolcanlogin: boolean }[]
    })
    expect(groups).toHaveLength(6)
    expect(groups.every((g) => !g.rolcanlogin)).toBe(true)
    expect(await p.health()).toEqual({ ok: true, error: null })
  })

  it('the databases are closed to PUBLIC: a role outside the groups cannot connect', async () => {
    const outsider = `outsider_${sfx}`
    await withPg(url, 'postgres', (c) => c.query(`CREATE ROLE ${outsider} LOGIN PASSWORD 'outsider-pw'`))
    try {
      const u = withUrl(url, { user: outsider, password: 'outsider-pw' })
      await expect(withPg(u, DB.staging, async () => 'in')).rejects.toMatchObject({ code: PERMISSION })
      await expect(withPg(u, 'postgres', async () => 'in')).resolves.toBe('in')
    } finally {
      await withPg(url, 'postgres', (c) => c.query(`DROP ROLE ${outsider}`))
    }
  })
})

describe('operation classes', () => {
  it('read: SELECT works; INSERT, UPDATE, DELETE, TRUNCATE, CREATE, DROP TABLE and DROP DATABASE fail', async () => {
    const { cred } = await issue({ operationClass: 'read' })
    expect(Object.keys(cred).sort()).toEqual(['database', 'host', 'password', 'port', 'url', 'username'])
    const c = await connectAs(cred)
    try {
      expect((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(2)
      expect(await sqlState(c, `INSERT INTO items (name) VALUES ('x')`)).toBe(PERMISSION)
      expect(await sqlState(c, `UPDATE items SET name = 'x'`)).toBe(PERMISSION)
      expect(await sqlState(c, 'DELETE FROM items')).toBe(PERMISSION)
      expect(await sqlState(c, 'TRUNCATE items')).toBe(PERMISSION)
      expect(await sqlState(c, 'CREATE TABLE mine (id int)')).toBe(PERMISSION)
      expect(await sqlState(c, 'DROP TABLE scratch')).toBe(PERMISSION)
      expect(await sqlState(c, `DROP DATABASE ${DB.prod}`)).toBe(PERMISSION)
      expect(await sqlState(c, `DROP DATABASE ${DB.staging}`)).toBe(PERMISSION)
      expect(await sqlState(c, `SELECT nextval('items_id_seq')`)).toBe(PERMISSION)
    } finally {
      await c.end()
    }
  })

  it('write: SELECT, INSERT, UPDATE, DELETE (with sequences) work; TRUNCATE, CREATE and DROP fail', async () => {
    const { cred } = await issue({ operationClass: 'write' })
    const c = await connectAs(cred)
    try {
      expect(await sqlState(c, `INSERT INTO items (name) VALUES ('w')`)).toBe('ok')
      expect(await sqlState(c, `UPDATE items SET name = 'w2' WHERE name = 'w'`)).toBe('ok')
      expect(await sqlState(c, `DELETE FROM items WHERE name = 'w2'`)).toBe('ok')
      expect(await sqlState(c, 'TRUNCATE items')).toBe(PERMISSION)
      expect(await sqlState(c, 'CREATE TABLE mine (id int)')).toBe(PERMISSION)
      expect(await sqlState(c, 'DROP TABLE scratch')).toBe(PERMISSION)
      expect(await sqlState(c, 'ALTER TABLE items ADD COLUMN x int')).toBe(PERMISSION)
      expect(await sqlState(c, `DROP DATABASE ${DB.prod}`)).toBe(PERMISSION)
    } finally {
      await c.end()
    }
  })

  it('destructive (provider level; the approvals API is not on this branch): DROP TABLE works, in its environment only', async () => {
    const { input, cred } = await issue({ operationClass: 'destructive' })
    const c = await connectAs(cred)
    try {
      expect(await sqlState(c, 'TRUNCATE scratch')).toBe('ok')
      expect(await sqlState(c, 'ALTER TABLE scratch ADD COLUMN note text')).toBe('ok')
      expect(await sqlState(c, 'DROP TABLE scratch')).toBe('ok')
      expect(await sqlState(c, 'CREATE TABLE made_by_agent (id int)')).toBe('ok')
      // The owner's privileges, not its identity: no SET ROLE into it (from PostgreSQL 16), no DROP DATABASE.
      if (version >= 160_000) expect(await sqlState(c, `SET ROLE ${OWNER.staging}`)).toBe(PERMISSION)
      expect(await sqlState(c, `DROP DATABASE ${DB.prod}`)).toBe(PERMISSION)
    } finally {
      await c.end()
    }
    await expect(connectAs({ ...cred, database: DB.prod })).rejects.toMatchObject({ code: PERMISSION })
    expect(
      await withPg(
        url,
        DB.prod,
        async (x) => (await x.query('SELECT to_regclass($1) AS t', ['scratch'])).rows[0].t,
      ),
    ).toBe('scratch')
    // On revoke, what the session made is handed to the owner and readable by the groups.
    await p.revoke({ ...input, handle: { role: cred.username } })
    const owner = await withPg(
      url,
      DB.staging,
      async (x) =>
        (await x.query(`SELECT tableowner FROM pg_tables WHERE tablename = 'made_by_agent'`)).rows[0]
          ?.tableowner,
    )
    expect(owner).toBe(OWNER.staging)
    const reader = await connectAs((await issue({ operationClass: 'read' })).cred)
    expect(await sqlState(reader, 'SELECT * FROM made_by_agent')).toBe('ok')
    await reader.end()
  })

  it('tables the owner creates later come with the same grants, without another setup', async () => {
    await withPg(url, DB.staging, async (c) => {
      await c.query(`GRANT CREATE ON SCHEMA public TO ${OWNER.staging}`)
      await c.query(`SET ROLE ${OWNER.staging}`)
      await c.query('CREATE TABLE later (id serial, v text)')
    })
    const read = await connectAs((await issue({ operationClass: 'read' })).cred)
    const write = await connectAs((await issue({ operationClass: 'write' })).cred)
    try {
      expect(await sqlState(read, 'SELECT * FROM later')).toBe('ok')
      expect(await sqlState(read, `INSERT INTO later (v) VALUES ('r')`)).toBe(PERMISSION)
      expect(await sqlState(write, `INSERT INTO later (v) VALUES ('w')`)).toBe('ok')
      expect(await sqlState(write, 'DROP TABLE later')).toBe(PERMISSION)
    } finally {
      await read.end()
      await write.end()
    }
  })

  it("every environment's roles are confined to its own database", async () => {
    for (const env of ['staging', 'prod'] as const) {
      const other = env === 'staging' ? DB.prod : DB.staging
      for (const cls of ['read', 'write', 'destructive']) {
        const { cred } = await issue({ environment: env, operationClass: cls })
        expect(cred.database).toBe(DB[env])
        const own = await connectAs(cred)
        await own.end()
        await expect(connectAs({ ...cred, database: other }), `${env}/${cls}`).rejects.toMatchObject({
          code: PERMISSION,
        })
      }
    }
  })
})

describe('issuing', () => {
  it('is idempotent on the session id: a retry resets the one role, with a new password', async () => {
    const first = await issue()
    const second = await p.issue(first.input)
    const cred2 = second.credentials as unknown as PgCredentials
    expect(cred2.username).toBe(first.cred.username)
    expect(cred2.password).not.toBe(first.cred.password)
    expect(await rolesLike(url, first.cred.username)).toEqual([first.cred.username])
    const c = await connectAs(cred2)
    await c.end()
  })

  it('passwords carry at least 256 bits and the grant URL logs in', async () => {
    const { cred } = await issue()
    expect(Buffer.from(cred.password, 'base64url')).toHaveLength(32)
    expect(cred.url).toBe(
      `postgresql://${cred.username}:${cred.password}@127.0.0.1:${cred.port}/${DB.staging}`,
    )
    await withPg(cred.url, DB.staging, async (c) =>
      expect((await c.query('SELECT current_user AS u')).rows[0].u).toBe(cred.username),
    )
  })

  it('a class set to none is not issued', async () => {
    const q = provider(section({ operation_classes: { destructive: { privileges: 'none' } } }))
    await q.setup()
    await expect(q.issue(issueInput({ operationClass: 'destructive' }))).rejects.toThrow(
      "operation class 'destructive' is not granted by provider app-db",
    )
    // q emptied the shared destructive group: give it back its grants for the tests after.
    await p.setup()
  })
})

describe('revoking', () => {
  it('cuts an open connection at once, and a new login fails', async () => {
    const { input, cred, handle } = await issue({ operationClass: 'write' })
    const c = await connectAs(cred)
    await c.query('SELECT 1')
    const closed = ended(c)
    await p.revoke({ ...input, handle })
    await closed
    await expect(c.query('SELECT 1')).rejects.toThrow()
    expect(LOGIN_FAILED).toContain(
      await connectAs(cred).then(
        () => 'ok',
        (e) => e.code,
      ),
    )
    expect(await roleExists(url, cred.username)).toBe(false)
    // Idempotent, with or without the handle.
    await p.revoke({ ...input, handle })
    await p.revoke({ ...input, handle: null })
  })

  it('what a session left in another database does not keep its role from being dropped', async () => {
    const { input, cred, handle } = await issue({ operationClass: 'read' })
    // `postgres` keeps PUBLIC's CONNECT: a read role may make a large object there.
    const c = await connectAs({ ...cred, database: 'postgres' })
    const made = (await c.query(`SELECT lo_from_bytea(0, 'x'::bytea) AS o`)).rows[0].o as number
    await c.end()
    await p.revoke({ ...input, handle })
    expect(await roleExists(url, cred.username)).toBe(false)
    const left = await withPg(
      url,
      'postgres',
      async (x) =>
        (await x.query('SELECT count(*)::int AS n FROM pg_largeobject_metadata WHERE oid = $1', [made]))
          .rows[0].n,
    )
    expect(left).toBe(0)
  })

  it('what a session granted on its objects, to PUBLIC or to another role, is revoked with it', async () => {
    const outsider = `grantee_${sfx}`
    const accomplice = `accomplice_${sfx}`
    await withPg(url, 'postgres', async (c) => {
      await c.query(`CREATE ROLE ${outsider} LOGIN PASSWORD 'grantee-pw'`)
      await c.query(`CREATE ROLE ${accomplice} NOLOGIN`)
      // An application role of the database: it may connect, and nothing more.
      await c.query(`GRANT CONNECT ON DATABASE ${DB.staging} TO ${outsider}`)
    })
    try {
      const { input, cred, handle } = await issue({ operationClass: 'destructive' })
      const c = await connectAs(cred)
      // Tables it creates later are granted to PUBLIC by its own default privileges.
      await c.query('ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO PUBLIC')
      await c.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO ${outsider}`)
      await c.query(`CREATE TABLE leak_t (id serial, secret text)`)
      await c.query(`INSERT INTO leak_t (secret) VALUES ('s')`)
      await c.query(`CREATE TABLE leak_c (id int, secret text)`)
      await c.query(`GRANT SELECT (secret), UPDATE (secret) ON leak_c TO ${outsider}`)
      await c.query(`CREATE VIEW leak_v AS SELECT * FROM leak_c`)
      await c.query(`GRANT SELECT ON leak_v TO ${accomplice} WITH GRANT OPTION`)
      await c.query(`CREATE FUNCTION leak_f() RETURNS int LANGUAGE sql AS 'SELECT 1'`)
      await c.query(`GRANT EXECUTE ON FUNCTION leak_f() TO PUBLIC, ${outsider}`)
      await c.query(`CREATE TYPE leak_e AS ENUM ('x')`)
      await c.query(`GRANT USAGE ON TYPE leak_e TO ${outsider}`)
      const lo = (await c.query(`SELECT lo_from_bytea(0, 'lo-secret'::bytea) AS o`)).rows[0].o as number
      await c.query(`GRANT SELECT, UPDATE ON LARGE OBJECT ${lo} TO PUBLIC`)
      await c.end()
      // The accomplice passes its grant option on to PUBLIC.
      await withPg(url, DB.staging, async (x) => {
        await x.query(`SET ROLE ${accomplice}`)
        await x.query(`GRANT SELECT ON leak_v TO PUBLIC`)
      })

      const u = withUrl(url, { user: outsider, password: 'grantee-pw' })
      const attempts = [
        'SELECT * FROM leak_t',
        `INSERT INTO leak_t (secret) VALUES ('x')`,
        `SELECT nextval('leak_t_id_seq')`,
        'SELECT secret FROM leak_c',
        `UPDATE leak_c SET secret = 'x'`,
        'SELECT * FROM leak_v',
        'SELECT leak_f()',
        `SELECT lo_get(${lo})`,
      ]
      const before = await withPg(u, DB.staging, async (o) => {
        const r: string[] = []
        for (const sql of attempts) r.push(await sqlState(o, sql))
        return r
      })
      expect(before).toEqual(attempts.map(() => 'ok'))

      await p.revoke({ ...input, handle })
      expect(await roleExists(url, cred.username)).toBe(false)
      const after = await withPg(u, DB.staging, async (o) => {
        const r: string[] = []
        for (const sql of attempts) r.push(await sqlState(o, sql))
        return r
      })
      expect(after).toEqual(attempts.map(() => PERMISSION))
      // No ACL entry of what the session made names PUBLIC, the outsider or the accomplice.
      const left = await withPg(url, DB.staging, async (x) => {
        const r = await x.query(
          `WITH acls AS (
             SELECT c.relacl AS acl FROM pg_class c WHERE c.relname LIKE 'leak\\_%'
             UNION ALL SELECT a.attacl FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               WHERE c.relname LIKE 'leak\\_%'
             UNION ALL SELECT proacl FROM pg_proc WHERE proname = 'leak_f'
             UNION ALL SELECT typacl FROM pg_type WHERE typname = 'leak_e'
             UNION ALL SELECT lomacl FROM pg_largeobject_metadata WHERE oid = $1)
           SELECT count(*)::int AS n FROM acls, aclexplode(acl) e
            WHERE e.grantee = 0 OR e.grantee IN (SELECT oid FROM pg_roles WHERE rolname = ANY($2))`,
          [lo, [outsider, accomplice]],
        )
        return r.rows[0].n as number
      })
      expect(left).toBe(0)
    } finally {
      await cleanup(url, [], [outsider, accomplice], [DB.staging])
    }
  })

  it("a session cannot act as its group, so nothing it makes outlives it as the group's", async () => {
    // The test cluster's version is pinned; before 16 every membership allows SET ROLE (docs/providers.md).
    expect(version).toBeGreaterThanOrEqual(160_000)
    await withPg(url, DB.staging, async (x) => {
      await x.query('CREATE TABLE guarded (id int)')
      await x.query(`ALTER TABLE guarded OWNER TO ${OWNER.staging}`)
    })
    const { input, cred, handle } = await issue({ operationClass: 'destructive' })
    const group = await withPg(url, 'postgres', async (x) => {
      const r = await x.query(
        `SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
            WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
        [cred.username],
      )
      return r.rows[0].rolname as string
    })
    const c = await connectAs(cred)
    // A function that would run any SQL with the destructive group's rights, for anyone.
    const backdoor = `CREATE FUNCTION backdoor(q text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
        AS $$ BEGIN EXECUTE q; END $$`
    expect(await sqlState(c, `SET ROLE "${group}"`)).toBe(PERMISSION)
    expect(await sqlState(c, backdoor)).toBe('ok')
    expect(await sqlState(c, `ALTER FUNCTION backdoor(text) OWNER TO "${group}"`)).toBe(PERMISSION)
    await c.end()
    await p.revoke({ ...input, handle })

    const reader = await connectAs((await issue({ operationClass: 'read' })).cred)
    expect(await sqlState(reader, `SELECT backdoor('DROP TABLE guarded')`)).toBe(PERMISSION)
    await reader.end()
    const kept = await withPg(
      url,
      DB.staging,
      async (x) => (await x.query(`SELECT to_regclass('guarded') AS t`)).rows[0].t,
    )
    expect(kept).toBe('guarded')
  })

  it('a session that granted on more objects than one transaction may lock is still revoked', async () => {
    const { input, cred, handle } = await issue({ operationClass: 'read' })
    const c = await connectAs(cred)
    // Large objects cost a read session nothing; each REVOKE locks one (the default lock table
    // holds 64 per allowed connection).
    for (let i = 0; i < 20; i++)
      await c.query(`DO $$ BEGIN FOR i IN 1..1000 LOOP
        EXECUTE format('GRANT SELECT ON LARGE OBJECT %s TO PUBLIC', lo_create(0)); END LOOP; END $$`)
    await c.end()
    await p.revoke({ ...input, handle })
    expect(await roleExists(url, cred.username)).toBe(false)
    const open = await withPg(url, DB.staging, async (x) => {
      const r = await x.query(
        `SELECT count(*)::int AS n FROM pg_largeobject_metadata, aclexplode(lomacl) e WHERE e.grantee = 0`,
      )
      return r.rows[0].n as number
    })
    expect(open).toBe(0)
  }, 60_000)

  it('a session that made more large objects than one transaction may lock is still dropped', async () => {
    const { input, cred, handle } = await issue({ operationClass: 'read' })
    const c = await connectAs({ ...cred, database: 'postgres' })
    for (let i = 0; i < 20; i++)
      await c.query(`DO $$ BEGIN FOR i IN 1..1000 LOOP PERFORM lo_create(0); END LOOP; END $$`)
    await c.end()
    const left = () =>
      withPg(url, 'postgres', async (x) => {
        const r = await x.query(
          `SELECT count(*)::int AS n FROM pg_largeobject_metadata WHERE lomowner::regrole::text = $1`,
          [cred.username],
        )
        return r.rows[0].n as number
      })
    try {
      await p.revoke({ ...input, handle })
      expect(await roleExists(url, cred.username)).toBe(false)
    } finally {
      // Whatever happened, nothing stays behind in the shared database.
      while ((await left()) > 0)
        await withPg(url, 'postgres', (x) =>
          x.query(
            `SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE lomowner::regrole::text = $1 LIMIT 1000`,
            [cred.username],
          ),
        )
    }
  }, 60_000)

  it("what a session passed on with its group's grant option is revoked with it", async () => {
    const outsider = `optgrantee_${sfx}`
    await withPg(url, 'postgres', async (c) => {
      await c.query(`CREATE ROLE ${outsider} LOGIN PASSWORD 'grantee-pw'`)
      await c.query(`GRANT CONNECT ON DATABASE ${DB.staging} TO ${outsider}`)
    })
    const q = provider(
      section({
        operation_classes: {
          read: {
            grant_statements: [
              'GRANT CONNECT ON DATABASE {{database}} TO {{group}}',
              'GRANT USAGE ON SCHEMA {{schemas}} TO {{group}}',
              'GRANT SELECT ON items TO {{group}} WITH GRANT OPTION',
            ],
          },
        },
      }),
    )
    try {
      await q.setup()
      const { input, cred, handle } = await issue({ operationClass: 'read' }, q)
      const c = await connectAs(cred)
      // Recorded as granted by the group, not by the session role.
      await c.query(`GRANT SELECT ON items TO PUBLIC, ${outsider}`)
      await c.end()
      const u = withUrl(url, { user: outsider, password: 'grantee-pw' })
      const read = () => withPg(u, DB.staging, (o) => sqlState(o, 'SELECT * FROM items'))
      expect(await read()).toBe('ok')
      await q.revoke({ ...input, handle })
      expect(await read()).toBe(PERMISSION)
      // The class keeps its own grants.
      const reader = await connectAs((await issue({ operationClass: 'read' }, q)).cred)
      expect(await sqlState(reader, 'SELECT * FROM items')).toBe('ok')
      await reader.end()
    } finally {
      await p.setup()
      await cleanup(url, [], [outsider], [DB.staging])
    }
  })

  it('on_revoke: drop removes what the session created', async () => {
    const q = provider(section({ on_revoke: 'drop' }))
    await q.setup()
    const { input, cred, handle } = await issue({ operationClass: 'destructive' }, q)
    const c = await connectAs(cred)
    await c.query('CREATE TABLE temp_work (id int)')
    await c.end()
    await q.revoke({ ...input, handle })
    const t = await withPg(
      url,
      DB.staging,
      async (x) => (await x.query(`SELECT to_regclass('temp_work') AS t`)).rows[0].t,
    )
    expect(t).toBeNull()
  })
})

describe('reaping', () => {
  it("drops only this deployment's roles of sessions that are gone", async () => {
    const live = await issue()
    const dead = await issue({ environment: 'prod' })
    const other = provider(section({ deployment_id: `other-${sfx}` }))
    await other.setup()
    const foreign = await issue({}, other)
    const otherTag = foreign.cred.username.split('_')[1] as string
    const asked: string[][] = []
    const n = await p.reap(async (ids) => {
      asked.push(ids)
      return new Set(ids.filter((id) => id !== dead.input.sessionId))
    })
    expect(n).toBe(1)
    expect(asked.flat()).toContain(live.input.sessionId)
    expect(asked.flat()).not.toContain(foreign.input.sessionId)
    expect(await roleExists(url, dead.cred.username)).toBe(false)
    expect(await roleExists(url, live.cred.username)).toBe(true)
    expect(await roleExists(url, foreign.cred.username)).toBe(true)
    expect(await roleExists(url, OWNER.staging)).toBe(true)
    await other.reap(async () => new Set())
    await cleanup(url, [], [`airlock_${otherTag}_`], [DB.staging, DB.prod])
  })
})

describe('hostile input', () => {
  const HOSTILE = `x"; DROP DATABASE postgres; --$$'\\`
  const names = {
    db: `air_${sfx}${HOSTILE}`,
    schema: `s${HOSTILE}`,
    owner: `own_${sfx}${HOSTILE}`,
  }
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`

  it('database, schema and owner names, task ids and agent names with quotes, semicolons and $$ are only ever data', async () => {
    await withPg(url, 'postgres', async (c) => {
      await c.query(`CREATE ROLE ${q(names.owner)} NOLOGIN`)
      await c.query(`CREATE DATABASE ${q(names.db)}`)
    })
    try {
      await withPg(url, names.db, async (c) => {
        await c.query(`CREATE SCHEMA ${q(names.schema)} AUTHORIZATION ${q(names.owner)}`)
        await c.query(`CREATE TABLE ${q(names.schema)}.t (v text)`)
        await c.query(`INSERT INTO ${q(names.schema)}.t VALUES ('ok')`)
        await c.query(`ALTER TABLE ${q(names.schema)}.t OWNER TO ${q(names.owner)}`)
      })
      const h = provider({
        deployment_id: DEPLOYMENT,
        environments: {
          staging: {
            connection: 'vault:pg/staging-admin',
            database: names.db,
            schemas: [names.schema],
            owner: names.owner,
          },
        },
      })
      await h.setup()
      const taskId = `T'); DROP ROLE postgres; --$$ ;"x`
      const agent = `a$$'; SELECT 1; --`
      for (const cls of ['read', 'destructive']) {
        const { cred } = await issue({ taskId, agent, operationClass: cls }, h)
        expect(cred.database).toBe(names.db)
        const c = await connectAs(cred)
        expect((await c.query(`SELECT v FROM ${q(names.schema)}.t`)).rows).toEqual([{ v: 'ok' }])
        await c.end()
        const comment = await withPg(
          url,
          'postgres',
          async (c2) =>
            (
              await c2.query('SELECT shobj_description(oid, $1) AS d FROM pg_roles WHERE rolname = $2', [
                'pg_authid',
                cred.username,
              ])
            ).rows[0].d,
        )
        expect(comment).toContain(`agent ${agent}, task ${taskId},`)
      }
      expect(await roleExists(url, 'postgres')).toBe(true)
      expect(
        await withPg(
          url,
          'postgres',
          async (c) =>
            (await c.query(`SELECT count(*)::int AS n FROM pg_database WHERE datname = 'postgres'`)).rows[0]
              .n,
        ),
      ).toBe(1)
    } finally {
      await cleanup(url, [names.db], [names.owner])
    }
  })
})

describe('configuration against the server', () => {
  it('grants follow the config: a class narrowed to read loses INSERT on the next setup', async () => {
    const { cred } = await issue({ operationClass: 'write' })
    const c = await connectAs(cred)
    try {
      expect(await sqlState(c, `INSERT INTO items (name) VALUES ('before')`)).toBe('ok')
      const narrowed = provider(section({ operation_classes: { write: { privileges: 'read' } } }))
      await narrowed.setup()
      expect(await sqlState(c, `INSERT INTO items (name) VALUES ('after')`)).toBe(PERMISSION)
      // ...and on tables the owner creates after the change (default privileges rebuilt too).
      await withPg(url, DB.staging, async (x) => {
        await x.query(`GRANT CREATE ON SCHEMA public TO ${OWNER.staging}`)
        await x.query(`SET ROLE ${OWNER.staging}`)
        await x.query('CREATE TABLE after_narrowing (v text)')
      })
      expect(await sqlState(c, `INSERT INTO after_narrowing VALUES ('x')`)).toBe(PERMISSION)
      expect(await sqlState(c, 'SELECT * FROM after_narrowing')).toBe('ok')
      await p.setup()
      expect(await sqlState(c, `INSERT INTO items (name) VALUES ('again')`)).toBe('ok')
    } finally {
      await c.end()
    }
  })

  it('grant_statements replace the default grants, with quoted placeholders', async () => {
    const q = provider(
      section({
        operation_classes: {
          read: {
            grant_statements: [
              'GRANT CONNECT ON DATABASE {{database}} TO {{group}}',
              'GRANT USAGE ON SCHEMA {{schemas}} TO {{group}}',
              'GRANT SELECT (id) ON items TO {{ group }}',
            ],
          },
        },
      }),
    )
    await q.setup()
    const c = await connectAs((await issue({ operationClass: 'read' }, q)).cred)
    try {
      expect(await sqlState(c, 'SELECT id FROM items')).toBe('ok')
      expect(await sqlState(c, 'SELECT name FROM items')).toBe(PERMISSION)
    } finally {
      await c.end()
      await p.setup()
    }
  })

  it('refuses an owner role that owns the database or is a superuser: nothing is issued there', async () => {
    const dbOwner = `db_owner_${sfx}`
    const db = `air_owned_${sfx}`
    await withPg(url, 'postgres', async (c) => {
      await c.query(`CREATE ROLE ${dbOwner} NOLOGIN`)
      await c.query(`CREATE DATABASE ${db} OWNER ${dbOwner}`)
    })
    try {
      for (const [owner, why] of [
        [dbOwner, `owner of database '${db}' and could drop it`],
        ['postgres', "members of role 'postgres', which is a superuser"],
      ] as const) {
        const q = provider(
          section({
            environments: { staging: { connection: 'vault:pg/staging-admin', database: db, owner } },
          }),
        )
        await expect(q.setup()).rejects.toThrow(why)
        expect((await q.health()).error).toContain(why)
        await expect(q.issue(issueInput())).rejects.toThrow(why)
      }
    } finally {
      await cleanup(url, [db], [dbOwner])
    }
  })

  it.each([
    ['pg_execute_server_program', 'may run programs on the server'],
    ['pg_read_server_files', 'may read files on the server'],
    ['pg_write_server_files', 'may write files on the server'],
    ['pg_read_all_data', 'may read every table of every database'],
    ['pg_write_all_data', 'may write every table of every database'],
    ['pg_signal_backend', "may cancel or end other roles' connections"],
  ])('refuses an owner role that is a member of %s: no session %s', async (predefined, what) => {
    const owner = `server_owner_${sfx}`
    await withPg(url, 'postgres', async (c) => {
      await c.query(`CREATE ROLE ${owner} NOLOGIN`)
      await c.query(`GRANT ${predefined} TO ${owner}`)
    })
    try {
      const q = provider(
        section({
          environments: { staging: { connection: 'vault:pg/staging-admin', database: DB.staging, owner } },
        }),
      )
      const why = `members of role '${predefined}', which ${what}`
      await expect(q.setup()).rejects.toThrow(why)
      await expect(q.issue(issueInput({ operationClass: 'destructive' }))).rejects.toThrow(why)
    } finally {
      await p.setup()
      await cleanup(url, [], [owner], [DB.staging])
    }
  })

  it('refuses an owner shared by two environments when it may enter both databases', async () => {
    const shared = `shared_owner_${sfx}`
    await withPg(url, 'postgres', async (c) => {
      await c.query(`CREATE ROLE ${shared} NOLOGIN`)
      await c.query(`GRANT CONNECT ON DATABASE ${DB.prod} TO ${shared}`)
    })
    try {
      const q = provider(
        section({
          environments: {
            staging: { connection: 'vault:pg/staging-admin', database: DB.staging, owner: shared },
            prod: { connection: 'vault:pg/prod-admin', database: DB.prod, owner: OWNER.prod },
          },
        }),
      )
      await expect(q.setup()).rejects.toThrow(
        `environment staging: the staging groups could connect to database '${DB.prod}', which is not theirs`,
      )
      await expect(q.issue(issueInput({ operationClass: 'read' }))).rejects.toThrow(
        'could connect to database',
      )
    } finally {
      await p.setup()
      await cleanup(url, [], [shared], [DB.prod, DB.staging])
    }
  })

  it('each environment uses only its own connection; a broken one does not stop the other', async () => {
    const closed = withUrl(url, { port: await freePort(), password: 'CANARY-prod' })
    const broken = new MapSecrets(
      new Map([
        ['vault:pg/staging-admin', url],
        ['vault:pg/prod-admin', closed],
      ]),
    )
    const q = provider(section(), { secrets: broken })
    await expect(q.setup()).rejects.toThrow(/environment prod: connect ECONNREFUSED/)
    const { cred } = await issue({}, q)
    expect(cred.database).toBe(DB.staging)
    await expect(q.issue(issueInput({ environment: 'prod' }))).rejects.toThrow(/^environment prod: /)
    const h = await q.health()
    expect(h.ok).toBe(false)
    expect(h.error).toMatch(/^environment prod: connect ECONNREFUSED/)
    expect(JSON.stringify(h)).not.toContain('CANARY')
  })

  it('re-resolves the admin secret after secretRotated and after a failed login', async () => {
    const s = new MapSecrets(
      new Map([
        ['vault:pg/staging-admin', url],
        ['vault:pg/prod-admin', url],
      ]),
    )
    const q = provider(section(), { secrets: s })
    await q.setup()
    await issue({}, q)
    const before = s.resolved
    s.values.set('vault:pg/staging-admin', withUrl(url, { port: await freePort() }))
    await issue({}, q) // the pool still holds the old secret until told
    await q.secretRotated('vault:pg/staging-admin')
    await expect(q.issue(issueInput())).rejects.toThrow(/environment staging: connect ECONNREFUSED/)
    s.values.set('vault:pg/staging-admin', url)
    await issue({}, q) // the failed connection dropped the stale secret: resolved again
    expect(s.resolved).toBe(before + 2)
  })
})

describe('passwords and VALID UNTIL (scram-sha-256 cluster)', () => {
  const scram = inject('pgScramUrl')
  let app: Awaited<ReturnType<typeof createAppDatabases>>
  let q: Provider
  let scramTag = ''
  beforeAll(async () => {
    app = await createAppDatabases(scram, `s${sfx}`)
    const s = new MapSecrets(new Map([['vault:admin', scram]]))
    q = provider(
      {
        deployment_id: `provider-scram-${sfx}`,
        environments: {
          staging: { connection: 'vault:admin', database: app.databases.staging, owner: app.owners.staging },
        },
      },
      { secrets: s },
    )
    await q.setup()
  })
  afterAll(async () => {
    await cleanup(scram, Object.values(app.databases), [`airlock_${scramTag}_`, ...Object.values(app.owners)])
  })

  it("a retry's new password replaces the old one", async () => {
    const first = await issue({}, q)
    scramTag = first.cred.username.split('_')[1] as string
    const second = (await q.issue(first.input)).credentials as unknown as PgCredentials
    await expect(connectAs(first.cred)).rejects.toMatchObject({ code: '28P01' })
    await (await connectAs(second)).end()
  })

  it('a session role cannot log in after VALID UNTIL, even while the role still exists', async () => {
    const { cred } = await issue({ expiresAt: Date.now() + 1500, ttlSeconds: 1 }, q)
    await (await connectAs(cred)).end()
    await vi.waitFor(() => expect(connectAs(cred)).rejects.toMatchObject({ code: '28P01' }), {
      timeout: 10_000,
      interval: 250,
    })
    expect(await roleExists(scram, cred.username)).toBe(true)
  })

  it('a revoked role cannot log in with its password', async () => {
    const { input, cred, handle } = await issue({}, q)
    await q.revoke({ ...input, handle })
    await expect(connectAs(cred)).rejects.toMatchObject({ code: '28P01' })
  })
})
