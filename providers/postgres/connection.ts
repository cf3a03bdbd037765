// The admin connection of one environment: its URL is resolved from a secret reference when first
// needed and again after a rotation or a failed login, so a rotated password is picked up without
// a restart. Nothing here ever puts the URL or its password into an error message.
import { AirlockError, err } from '../../src/errors.js'
import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import type { FastifyBaseLogger } from 'fastify'
import pg from 'pg'
import { scrub } from '../../src/scrub.js'
import type { SecretSource } from '../types.js'
import type { EnvironmentConfig } from './config.js'

export interface AdminTarget {
  host: string
  port: number
  user: string
  password: string
  ssl: false | ConnectionOptions
  /** Kept for the agents' URL, so they connect as securely as the broker does. */
  sslmode: string | null
}

const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full']
const PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'host', 'port', 'application_name']

/** postgres:// or postgresql:// URL → connection settings. Messages never quote the URL. */
export function parseAdminUrl(text: string): AdminTarget {
  let u: URL
  try {
    u = new URL(text.trim())
  } catch {
    throw err.unavailable('the connection secret is not a valid postgres:// URL')
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw err.unavailable('the connection secret must be a postgres:// or postgresql:// URL')
  const q = u.searchParams
  for (const key of q.keys()) {
    if (!PARAMS.includes(key))
      throw err.unavailable(`the connection URL has an unsupported parameter '${key}'`)
  }
  const decode = (s: string, what: string): string => {
    try {
      return decodeURIComponent(s)
    } catch {
      throw err.unavailable(`the connection URL's ${what} is not valid percent-encoding`)
    }
  }
  const host = q.get('host') ?? decode(u.hostname.replace(/^\[(.*)\]$/, '$1'), 'host')
  const portText = q.get('port') ?? (u.port || '5432')
  const port = Number(portText)
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65_535)
    throw err.unavailable("the connection URL's port is not a number from 1 to 65535")
  const user = decode(u.username, 'user name')
  if (host === '' || user === '') throw err.unavailable('the connection URL needs a host and a user name')
  const sslmode = q.get('sslmode')
  if (sslmode !== null && !SSL_MODES.includes(sslmode))
    throw err.unavailable(`the connection URL's sslmode must be one of ${SSL_MODES.join(', ')}`)
  const file = (key: string): string | undefined => {
    const path = q.get(key)
    if (path === null) return undefined
    try {
      return readFileSync(path, 'utf8')
    } catch (e) {
      throw err.unavailable(
        `cannot read the connection URL's ${key} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      )
    }
  }
  let ssl: false | ConnectionOptions = false
  if (sslmode !== null && sslmode !== 'disable') {
    const ca = file('sslrootcert')
    const tls: ConnectionOptions = { ca, cert: file('sslcert'), key: file('sslkey') }
    // libpq's meanings: require encrypts only (verify-ca when a root certificate is given),
    // verify-ca checks the chain, verify-full also the host name.
    if (sslmode === 'verify-full') ssl = tls
    else if (sslmode === 'verify-ca' || ca !== undefined) {
      if (ca === undefined) throw err.unavailable('sslmode=verify-ca needs sslrootcert')
      ssl = { ...tls, checkServerIdentity: () => undefined }
    } else ssl = { ...tls, rejectUnauthorized: false }
  }
  return { host, port, user, password: decode(u.password, 'password'), ssl, sslmode }
}

/** An error already stripped of secrets, with PostgreSQL's SQLSTATE when it came from the server. */
export class SafeError extends AirlockError {
  constructor(
    message: string,
    readonly sqlState: string | undefined,
  ) {
    super('unavailable', message)
    this.name = 'SafeError'
  }
}

export interface EnvConnection {
  readonly name: string
  readonly config: EnvironmentConfig
  /** The admin target (resolving the secret if needed). */
  target(): Promise<AdminTarget>
  /** Runs `fn` on one admin connection to the environment's database. */
  withClient<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T>
  /** Runs `fn` on a one-off admin connection to another database of the same server. */
  withClientIn<T>(database: string, fn: (c: pg.ClientBase) => Promise<T>): Promise<T>
  /** An error safe to show: prefixed with the environment, without any secret. */
  safeError(e: unknown): Error
  /** Forget the resolved secret and close the pool; the next use resolves again. */
  reset(): Promise<void>
  close(): Promise<void>
}

export function envConnection(
  name: string,
  config: EnvironmentConfig,
  deps: { secrets: SecretSource; log: FastifyBaseLogger },
): EnvConnection {
  let state: Promise<{ target: AdminTarget; pool: pg.Pool; secret: string }> | null = null
  let known: string[] = []

  const clean = (message: string): string => {
    let m = message
    for (const s of known) if (s.length >= 4) m = m.split(s).join('[redacted]')
    return scrub(m)
  }
  const safeError = (e: unknown): Error => {
    if (e instanceof SafeError) return e
    const message = e instanceof Error ? e.message : String(e)
    // Only PostgreSQL's (and the network's) codes: ours name no SQLSTATE.
    const code = e instanceof AirlockError ? undefined : (e as { code?: string }).code
    return new SafeError(`environment ${name}: ${clean(message)}`, code)
  }

  const open = async () => {
    const secret = await deps.secrets.resolve(config.connection)
    known = [secret, encodeURIComponent(secret)]
    const target = parseAdminUrl(secret)
    known.push(target.password, encodeURIComponent(target.password))
    const pool = new pg.Pool({
      ...clientOptions(target),
      database: config.database,
      max: 4,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
    })
    pool.on('error', (e) =>
      deps.log.warn({ environment: name, err: clean(e.message) }, 'admin connection failed'),
    )
    return { target, pool, secret }
  }

  const current = async () => {
    const s = (state ??= open())
    try {
      return await s
    } catch (e) {
      if (state === s) state = null
      throw e
    }
  }

  const reset = async () => {
    const s = state
    state = null
    if (s) await s.then((x) => x.pool.end()).catch(() => {})
  }

  const target = async (): Promise<AdminTarget> => {
    try {
      return (await current()).target
    } catch (e) {
      throw safeError(e)
    }
  }

  return {
    name,
    config,
    target,
    async withClient(fn) {
      let client: pg.PoolClient
      try {
        client = await (await current()).pool.connect()
      } catch (e) {
        // The server refused or could not be reached (a code: ECONNREFUSED, 28P01...): a rotated
        // password or a moved server is read again next time. A busy pool (no code) keeps its secret.
        if (!(e instanceof AirlockError) && (e as { code?: string }).code !== undefined) await reset()
        throw safeError(e)
      }
      let failed = false
      try {
        return await fn(client)
      } catch (e) {
        failed = true
        throw safeError(e)
      } finally {
        // A failed connection may sit in an aborted transaction: discard it rather than reuse it.
        client.release(failed)
      }
    },
    async withClientIn(database, fn) {
      const c = new pg.Client({ ...clientOptions(await target()), database })
      try {
        await c.connect()
        return await fn(c)
      } catch (e) {
        throw safeError(e)
      } finally {
        await c.end().catch(() => {})
      }
    },
    safeError,
    reset,
    close: reset,
  }
}

/** The options of every admin connection, pooled or one-off (each adds its database). */
const clientOptions = (target: AdminTarget) => ({
  host: target.host,
  port: target.port,
  user: target.user,
  // A function, so an empty password stays empty: pg would otherwise take PGPASSWORD or
  // ~/.pgpass from the broker's environment in its place, a credential nobody configured.
  password: () => target.password,
  ssl: target.ssl,
  application_name: 'airlock',
  connectionTimeoutMillis: 5_000,
  statement_timeout: 15_000,
  lock_timeout: 5_000,
})
