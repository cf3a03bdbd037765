// The one way to open Redis for every part of Airlock (store, queues, vault, subscribers, CLI),
// whatever the topology: a URL, Sentinel or Cluster. Reads and writes always go to the primary:
// Sentinel mode connects to the master only (role checked on connect), Cluster mode never scales
// reads to replicas, and a connection that finds itself on a demoted primary (READONLY)
// reconnects. Every failure fails closed: `guard` turns it into a StoreUnavailableError (a 503).
import type { ConnectionOptions } from 'node:tls'
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { RedisConnection } from './connection.js'
import { StoreUnavailableError } from '../errors.js'

export type { HostPort, RedisConnection, RedisTls, RedisTopology } from './connection.js'

export type RedisClient = Redis | Cluster

/** Fail fast while disconnected (no unbounded offline queue), reconnect forever in the background. */
export const redisOptions = (extra: RedisOptions = {}): RedisOptions => ({
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 2000,
  connectTimeout: 2000,
  retryStrategy: (times) => Math.min(50 * times, 1000),
  // A primary demoted under us answers writes with READONLY: find the new one.
  reconnectOnError: (e) => (e.message.startsWith('READONLY') ? 2 : false),
  lazyConnect: true,
  ...extra,
})

const tlsOptions = (conn: RedisConnection): ConnectionOptions | undefined => {
  const t = conn.tls
  if (!t) return conn.kind === 'standalone' && conn.url.startsWith('rediss:') ? {} : undefined
  return {
    ...(t.ca !== null && { ca: t.ca }),
    ...(t.cert !== null && { cert: t.cert }),
    ...(t.key !== null && { key: t.key }),
    ...(t.servername !== null && { servername: t.servername }),
  }
}

/** A client for `conn` (not connected yet: call connectRedis() or connect()). */
export function openRedis(conn: RedisConnection, extra: RedisOptions = {}): RedisClient {
  const options = redisOptions(extra)
  const tls = tlsOptions(conn)
  switch (conn.kind) {
    case 'standalone':
      return new Redis(conn.url, { ...options, ...(tls && { tls }) })
    case 'sentinel':
      return reopenWhenEnded(
        new Redis({
          ...options,
          sentinels: conn.sentinels,
          name: conn.name,
          role: 'master',
          ...(conn.password !== null && { password: conn.password }),
          ...(conn.sentinelPassword !== null && { sentinelPassword: conn.sentinelPassword }),
          ...(tls && { tls, enableTLSForSentinelMode: true, sentinelTLS: tls }),
          // Sentinels announce a switch at once instead of waiting for the old primary's timeouts.
          failoverDetector: true,
          sentinelRetryStrategy: (times: number) => Math.min(50 * times, 1000),
          // Without it, a sentinel that accepts the connection but never answers (a frozen process
          // or host) holds the connect, and every reconnect after a failover, forever.
          sentinelCommandTimeout: options.commandTimeout ?? 2000,
          sentinelMaxConnections: 3,
        }),
      )
    case 'cluster':
      return new Cluster(conn.nodes, {
        scaleReads: 'master',
        enableOfflineQueue: options.enableOfflineQueue ?? false,
        // Auto-pipelining stalls Cluster clients in ioredis 5 when several share a process; off.
        enableAutoPipelining: false,
        lazyConnect: true,
        clusterRetryStrategy: (times: number) => Math.min(50 * times, 1000),
        // A moved slot or a failed-over master: follow the cluster's redirections a few times.
        maxRedirections: 16,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        slotsRefreshTimeout: 2000,
        redisOptions: {
          ...(({ enableOfflineQueue: _q, retryStrategy: _r, ...rest }) => rest)(options),
          enableAutoPipelining: false,
          lazyConnect: false,
          ...(conn.password !== null && { password: conn.password }),
          ...(tls && { tls }),
        },
      })
  }
}

/**
 * A client for pub/sub on `conn`, connecting on first use: it queues commands while disconnected
 * and reconnects by itself (a subscriber re-reads what it missed: see onReconnect).
 */
export function openSubscriber(conn: RedisConnection): RedisClient {
  const sub = openRedis(conn, { enableOfflineQueue: true, maxRetriesPerRequest: null })
  sub.on('error', () => {}) // reconnects by itself; readers learn of the gap through onReconnect
  return sub
}

/** Connects a client, or throws a StoreUnavailableError naming what failed. */
export async function connectRedis(client: RedisClient, what = 'Redis'): Promise<void> {
  client.on('error', () => {}) // reported through failed commands and /readyz, not as a crash
  // 'ready' rather than connect()'s promise alone: a Cluster client whose first ready check fails
  // reconnects by itself and never settles that promise (ioredis 5).
  let timer: NodeJS.Timeout | undefined
  const ready = new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve())
    timer = setTimeout(() => reject(new Error('no answer within 10 s')), 10_000)
  })
  await Promise.race([client.connect(), ready])
    .then(() => ready)
    .catch((e: unknown) => {
      client.disconnect()
      throw new StoreUnavailableError(`cannot connect to ${what}: ${(e as Error).message}`, e)
    })
    .finally(() => clearTimeout(timer))
}

/**
 * ioredis's errors for a command sent and never answered: it timed out, or the connection closed
 * with it in flight. Either may have run on the server (a frozen Redis runs it when it resumes).
 */
const UNANSWERED = new Set(['Command timed out', 'Connection is closed.'])

/** Runs a Redis call; any failure becomes a StoreUnavailableError (a 503) naming what failed. */
export const guard = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
  try {
    return await f()
  } catch (e) {
    if (e instanceof StoreUnavailableError) throw e
    const message = (e as Error).message
    throw new StoreUnavailableError(`Redis ${what} failed: ${message}`, e, UNANSWERED.has(message))
  }
}

/**
 * ioredis 5 gives up on a Sentinel client for good (status 'end', every command "Connection is
 * closed.") when the sentinels announce the new primary while it is still reconnecting: its
 * failover detector aborts the connect in flight. Only we may end a client: connect it again.
 */
function reopenWhenEnded(client: Redis): Redis {
  let closing = false
  const { disconnect, quit } = client
  client.disconnect = (reconnect = false) => {
    if (!reconnect) closing = true
    disconnect.call(client, reconnect)
  }
  client.quit = ((...args: Parameters<Redis['quit']>) => {
    closing = true
    return quit.apply(client, args)
  }) as Redis['quit']
  let attempts = 0
  client.on('ready', () => (attempts = 0))
  client.on('end', () => {
    if (closing) return
    setTimeout(
      () => !closing && client.status === 'end' && client.connect().catch(() => {}),
      Math.min(50 * ++attempts, 1000),
    ).unref()
  })
  return client
}

/** A connection for a plain URL (tests and tools that have only a URL). */
export const urlConnection = (url: string): RedisConnection => ({ kind: 'standalone', url, tls: null })

/**
 * Calls `fn` each time `client` is back after losing its connection (not on the first connect):
 * a subscriber re-reads what it may have missed meanwhile. A Cluster client also reports nodes
 * leaving, since its subscription moves to another node without a new 'ready'.
 */
export function onReconnect(client: RedisClient, fn: () => void): void {
  let ready = client.status === 'ready'
  client.on('ready', () => {
    if (ready) fn()
    ready = true
  })
  // Not while closing: a Cluster client drops every node then.
  if (client instanceof Cluster) client.on('-node', () => client.status === 'ready' && fn())
}

// Start-up checks on the Redis we are about to trust with sessions.
const field = (info: string, name: string): string | null =>
  new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? null

/**
 * Throws when Redis may evict keys (a live session silently gone); returns warnings otherwise.
 * A Cluster is checked on every primary.
 */
export async function checkRedis(
  client: RedisClient,
  opts: { replicaAcks?: number } = {},
): Promise<string[]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client]
  const warnings: string[] = []
  for (const node of nodes) warnings.push(...(await checkNode(node, opts.replicaAcks ?? 0)))
  return [...new Set(warnings)]
}

async function checkNode(redis: Redis, replicaAcks: number): Promise<string[]> {
  const memory = await redis.info('memory')
  const policy = field(memory, 'maxmemory_policy')
  if (policy !== null && policy !== 'noeviction') {
    throw new Error(
      `Redis maxmemory-policy is '${policy}', which can evict sessions, locks and audit events; set it to 'noeviction'`,
    )
  }
  const warnings: string[] = []
  const persistence = await redis.info('persistence')
  const aof = field(persistence, 'aof_enabled') === '1'
  let rdb = true
  try {
    const save = (await redis.config('GET', 'save')) as string[]
    rdb = (save[1] ?? '').trim() !== ''
  } catch {
    // CONFIG may be disabled on managed Redis; then we cannot tell and do not warn.
  }
  if (!aof && !rdb) {
    warnings.push(
      'Redis persists nothing (no AOF, no RDB): a Redis restart forgets every session and lock (tokens then introspect inactive)',
    )
  }
  if (replicaAcks > 0) {
    const replicas = Number(field(await redis.info('replication'), 'connected_slaves') ?? 0)
    if (replicas < replicaAcks)
      warnings.push(
        `store.replica_acks is ${replicaAcks} but the Redis primary has ${replicas} replica(s) connected: grants, revocations and locks answer 503 until enough replicas are back`,
      )
  }
  return warnings
}
