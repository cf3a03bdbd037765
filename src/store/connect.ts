// One way to open Redis for every part of Airlock (store, vault, subscribers, CLI), whatever the
// topology: a URL, Sentinel or Cluster. Reads and writes always go to the primary: Sentinel mode
// connects to the master only (role checked on connect), Cluster mode never scales reads to
// replicas, and a connection that finds itself on a demoted primary (READONLY) reconnects.
import type { ConnectionOptions } from 'node:tls'
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { RedisConnection } from './connection.js'

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

/** A client for `conn` (not connected yet: call connect()). */
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

/** Where we connect, for messages: never a password (a URL's credentials are dropped). */
export function describeRedis(conn: RedisConnection): string {
  switch (conn.kind) {
    case 'standalone': {
      try {
        const u = new URL(conn.url)
        return `${u.protocol}//${u.host}`
      } catch {
        return 'Redis'
      }
    }
    case 'sentinel':
      return `Sentinel master '${conn.name}'`
    case 'cluster':
      return `Cluster ${conn.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`
  }
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
