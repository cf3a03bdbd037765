// Every Redis key name and TTL rule, in one place. All keys share one hash tag ({al}) so the
// multi-key scripts also run on Redis Cluster; Airlock's data set is small enough for one slot.
import type { LockScope } from '../domain/lock.js'

export type Keys = ReturnType<typeof redisKeys>

export function redisKeys(prefix: string) {
  const t = `${prefix}{al}:`
  return {
    /** One session record (src/store/record-codec.ts); TTL = its deadline + store.retention. */
    session: (id: string) => `${t}s:${id}`,
    /** STRING: a session profile shared by records (record-codec.ts); TTL >= every such record's. */
    profile: (digest: string) => `${t}sp:${digest}`,
    /** ZSET id -> current deadline (ms) of every unfinished session: the sweeper's work list. */
    deadlines: `${t}deadlines`,
    /** ZSET id -> created_at (ms) of every session within retention: listing. */
    created: `${t}created`,
    /** ZSET id -> deadline of sessions waiting for approval: the pending gauge. */
    pending: `${t}pending`,
    /** HASH lock id -> lock JSON. */
    locks: `${t}locks`,
    /** ZSET lock id -> expiry (ms or +inf), one per combination of dimensions a lock names. */
    lockIndex: (combo: string) => `${t}li:${combo}`,
    /** STREAM of audit events (field `e`: the event's JSON). */
    audit: `${t}audit`,
    /** STRING "seq:hash" of one chain's last event. */
    auditHead: (chain: string) => `${t}ah:${chain}`,
    /** HASH chain -> "seq:hash" of the last trimmed event: where verification starts. */
    auditAnchors: `${t}aa`,
    /** One job queue (src/queue): ZSET job id -> due time (ms), and HASH job id -> job JSON. */
    queue: (name: QueueName) => ({ due: `${t}${QUEUES[name].due}`, jobs: `${t}${QUEUES[name].jobs}` }),
    /** STRING owner, PX: a worker's exclusive lease (sweeper, reaper). */
    lease: (name: string) => `${t}lease:${name}`,
    /** Counters (src/ratelimit), STRING count with PX the window: @fastify/rate-limit's, per agent. */
    rateLimit: `${t}rl:`,
    /** Counters of gateway calls, per session (a provider's calls_per_minute). */
    gatewayCalls: `${t}gc:`,
    /** HASH path -> sealed vault record (JSON; never a plaintext value). */
    vault: `${t}vault`,
    /** Pub/sub channel announcing vault changes (path), so replicas drop cached values. */
    vaultChanges: `${t}vault:changes`,
    /** STRING {channel, ts} of a session's Slack message, so chat.update can find it; TTL >= the record's. */
    slackMessage: (id: string) => `${t}sm:${id}`,
    /** STRING, PX 10 minutes (the span of accepted timestamps): a Slack signature already accepted (replay guard). */
    slackSeen: (signature: string) => `${t}ss:${signature}`,
    /** STRING, PXAT past the session's end: its approved gateway action was used (once only). */
    actionUsed: (id: string) => `${t}au:${id}`,
    /** STRING JSON, PX the idle timeout: a signed-in console session, under the SHA-256 of its cookie. */
    consoleSession: (digest: string) => `${t}cs:${digest}`,
    /**
     * ZSET cookie digest -> when that console session lapses (ms), of one person; PXAT its last
     * member's lapse, and lapsed members are dropped at each write, so it holds only live sessions.
     */
    consoleSessionsOf: (human: string) => `${t}csh:${encodeURIComponent(human)}`,
    /** STRING JSON, PX 10 minutes: a console OIDC sign-in in progress, under its state; used once. */
    consoleLogin: (state: string) => `${t}cl:${state}`,
    /** Pub/sub channel announcing session changes (for `?wait=`). */
    changes: `${t}changes`,
    /** ZSET: one provider's named sorted set (ProviderState; e.g. the aws provider's deny list). */
    providerSet: (provider: string, set: string) =>
      `${t}p:${encodeURIComponent(provider)}:z:${encodeURIComponent(set)}`,
    /** STRING owner token, PX: one provider's named cross-replica lock (ProviderState.withLock). */
    providerLock: (provider: string, name: string) =>
      `${t}p:${encodeURIComponent(provider)}:lock:${encodeURIComponent(name)}`,
    /** STRING, PX: written to ask the replicas to acknowledge every earlier write (WAIT). */
    barrier: `${t}barrier`,
    /**
     * STRING, no TTL: this deployment's id, made once by whichever broker starts first. Providers
     * tag outside objects with it (postgres role names), so two deployments that share a backend
     * and a key prefix but not this Redis never take each other's objects for their own.
     */
    deployment: `${t}deployment`,
    /** Everything under this deployment's prefix (for tests that clean up after themselves). */
    pattern: `${t}*`,
  }
}

/**
 * The job queues: their two keys (under the prefix; the names queued jobs have always had, so an
 * upgrade finds the jobs queued before it), and how long a claim hides a job from other workers (a
 * crashed worker's jobs come back after it).
 */
export const QUEUES = {
  /** Provider revocations that failed, retried with backoff (job id `rev_<session id>.<attempt>`). */
  revocations: { due: 'rq', jobs: 'rj', leaseMs: 60_000 },
  /** Slack messages to bring up to date (job id: the session id). */
  slack: { due: 'sq', jobs: 'sj', leaseMs: 30_000 },
} as const

export type QueueName = keyof typeof QUEUES

/** A finished session stays readable for the retention period after its last deadline. */
export const recordExpiry = (deadline: number, retentionMs: number): number => deadline + retentionMs

/**
 * A session profile outlives the last record naming it (expiring at `recordPxat`) by an hour, so
 * most writes of a record need not extend it.
 */
export const profileExpiry = (recordPxat: number): number => recordPxat + 3_600_000

const DIMENSIONS = ['agent', 'environment', 'provider', 'task_id'] as const
export type LockMatch = Partial<Record<(typeof DIMENSIONS)[number], string>>

/** The index name of a lock: the dimensions it names, in a fixed order. */
export function lockCombo(match: LockMatch): string {
  return DIMENSIONS.filter((d) => match[d] !== undefined)
    .map((d) => `${d}=${encodeURIComponent(match[d] as string)}`)
    .join('&')
}

/** Every lock that could match a session is indexed under one of these 15 combinations. */
export function scopeCombos(scope: LockScope): string[] {
  const out: string[] = []
  for (let mask = 1; mask < 16; mask++) {
    const m: LockMatch = {}
    DIMENSIONS.forEach((d, i) => {
      if (mask & (1 << i)) m[d] = scope[d]
    })
    out.push(lockCombo(m))
  }
  return out
}
