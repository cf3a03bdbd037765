// Where Redis is and how to reach it (store.redis_url, store.sentinel or store.cluster, and
// store.tls), as every part that opens Redis takes it.

export interface HostPort {
  host: string
  port: number
}

/** TLS towards Redis (a rediss:// URL, or `store.tls` with sentinel or cluster): PEM contents. */
export interface RedisTls {
  ca: string | null
  cert: string | null
  key: string | null
  servername: string | null
}

/** Where Redis is: one URL (standalone or a managed endpoint), Sentinel, or Cluster. */
export type RedisTopology =
  | { kind: 'standalone'; url: string }
  | {
      kind: 'sentinel'
      name: string
      sentinels: HostPort[]
      /** Of the Redis servers; `sentinelPassword` is the sentinels' own. */
      password: string | null
      sentinelPassword: string | null
    }
  | { kind: 'cluster'; nodes: HostPort[]; password: string | null }

export type RedisConnection = RedisTopology & { tls: RedisTls | null }
