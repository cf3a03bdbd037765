// The `store` section: where Redis is (one URL, Sentinel or Cluster, with TLS) and how many replicas
// must acknowledge a write. Messages never echo a URL or a password: they usually carry one.
import { formatDuration } from '../../validation/duration.js'
import type { BuildContext } from '../context.js'
import { DEFAULTS, StoreSchema } from '../schema.js'
import { resolveMaybeRef, resolveRef } from '../secrets.js'
import type { HostPort, RedisConnection, RedisTls, RedisTopology, StoreConfig } from '../types.js'

/** The shortest store.retention accepted. */
const MIN_STORE_RETENTION_MS = 3_600_000

const isRedisUrl = (s: string): boolean => {
  try {
    return ['redis:', 'rediss:'].includes(new URL(s).protocol)
  } catch {
    return false
  }
}

const hostPort = (s: string): HostPort => {
  const i = s.lastIndexOf(':')
  const host = s.slice(0, i)
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(s.slice(i + 1)) }
}

export function buildStore(ctx: BuildContext): StoreConfig {
  const { report, secret, opts } = ctx
  const store = ctx.section(StoreSchema, 'store')
  const ref = (path: string, value: string | undefined): string | null =>
    value === undefined ? null : secret(path, () => resolveRef(value, opts))
  const given = (['redis_url', 'sentinel', 'cluster'] as const).filter((k) => store?.[k] !== undefined)
  if (given.length > 1)
    report(`store.${given[1]}`, `give one of redis_url, sentinel or cluster, not ${given.join(' and ')}`)

  let topology: RedisTopology | null = null
  if (store?.redis_url !== undefined) {
    const url = secret('store.redis_url', () => resolveMaybeRef(store.redis_url as string, opts))
    if (url !== null && !isRedisUrl(url)) report('store.redis_url', 'expected a redis:// or rediss:// URL')
    else if (url !== null) topology = { kind: 'standalone', url }
    if (store.tls && url !== null && !url.startsWith('rediss:'))
      report('store.tls', 'TLS options need a rediss:// URL in store.redis_url')
  } else if (store?.sentinel) {
    const s = store.sentinel
    topology = {
      kind: 'sentinel',
      name: s.name,
      sentinels: s.sentinels.map(hostPort),
      password: ref('store.sentinel.password', s.password),
      sentinelPassword: ref('store.sentinel.sentinel_password', s.sentinel_password),
    }
  } else if (store?.cluster) {
    topology = {
      kind: 'cluster',
      nodes: store.cluster.nodes.map(hostPort),
      password: ref('store.cluster.password', store.cluster.password),
    }
  } else if (store && !opts.allowMissingStore) {
    report('store.redis_url', 'required (a redis:// or rediss:// URL), or store.sentinel or store.cluster')
  }
  for (const [i, hp] of [
    ...(store?.sentinel?.sentinels ?? []).map((s) => ['sentinel.sentinels', s] as const),
    ...(store?.cluster?.nodes ?? []).map((s) => ['cluster.nodes', s] as const),
  ].entries()) {
    const port = hostPort(hp[1]).port
    if (port < 1 || port > 65_535) report(`store.${hp[0]}[${i}]`, 'expected a port from 1 to 65535')
  }

  let tls: RedisTls | null = null
  if (store?.tls) {
    const t = store.tls
    tls = {
      ca: ref('store.tls.ca', t.ca),
      cert: ref('store.tls.cert', t.cert),
      key: ref('store.tls.key', t.key),
      servername: t.servername ?? null,
    }
    if ((t.cert === undefined) !== (t.key === undefined))
      report(t.cert === undefined ? 'store.tls.cert' : 'store.tls.key', 'give both cert and key, or neither')
  }
  const redis: RedisConnection | null = topology ? { ...topology, tls } : null

  const replicaAcks = store?.replica_acks ?? DEFAULTS.replicaAcks
  const replicaAckTimeoutMs = ctx.duration(
    'store.replica_ack_timeout',
    store?.replica_ack_timeout ?? DEFAULTS.replicaAckTimeout,
  )
  if (replicaAckTimeoutMs !== 0 && (replicaAckTimeoutMs < 10 || replicaAckTimeoutMs > 60_000))
    report('store.replica_ack_timeout', 'expected a duration from 10ms to 60s')
  if (replicaAcks > 0 && given.length === 0)
    report('store.replica_acks', 'needs Redis (store.redis_url, store.sentinel or store.cluster)')
  // Redis hashes a key by its first {…}, or the whole key when that is empty: then the {al} tag
  // (src/store/keys.ts) no longer keeps a script's keys in one Cluster slot.
  if (store?.key_prefix !== undefined && /^[^{]*\{\}/.test(store.key_prefix))
    report('store.key_prefix', "must not start an empty hash tag ('{}'): Redis Cluster would split the keys")
  const retentionMs = ctx.duration('store.retention', store?.retention ?? DEFAULTS.storeRetention)
  // A record that vanishes before the sweeper saw it past its deadline loses its expiry event and
  // its revocation at expiry; an hour covers restarts and short outages of every replica.
  if (retentionMs > 0 && retentionMs < MIN_STORE_RETENTION_MS)
    report('store.retention', `must be at least ${formatDuration(MIN_STORE_RETENTION_MS)}`)
  return {
    redis,
    keyPrefix: store?.key_prefix ?? DEFAULTS.keyPrefix,
    retentionMs,
    replicaAcks,
    replicaAckTimeoutMs,
  }
}
