// Writes that must be on N replicas before anyone is told they happened (store.replica_acks). Each
// write travels in one pipeline with `WAIT N timeout` (one round trip). Writes arriving while a WAIT
// is out gather and share the next one (group commit): WAIT blocks its connection, so one WAIT per
// write would serialise every write behind the replica's round trip. WAIT counts the replicas that
// hold everything this connection wrote so far: an acknowledgement covers the whole batch.
//
// WAIT is not consensus: the write is applied on the primary before the count comes back, and a
// failover may still pick a replica that did not acknowledge it (Sentinel prefers the most
// up-to-date one). Too few acknowledgements is a 503 that says the change may not survive a
// failover; the caller retries, and every such write is idempotent.
import type { ChainableCommander } from 'ioredis'
import { StoreUnavailableError } from '../errors.js'
import type { RedisClient } from '../redis/client.js'

export interface Durability {
  /** Replicas that must acknowledge (0: no WAIT at all). */
  acks: number
  timeoutMs: number
  /** Told of every batch that got fewer acknowledgements than asked (a metric). */
  onShortfall?: (got: number) => void
}

/** The write reached the primary but too few replicas in time: it may not survive a failover. */
export class ReplicaAckError extends StoreUnavailableError {
  readonly acks: number
  /** The command's own reply (it may say it wrote nothing). */
  reply: unknown = null
  constructor(got: number, wanted: number, timeoutMs: number) {
    super(
      `only ${got} of ${wanted} Redis replicas acknowledged the change within ${timeoutMs} ms; it may not survive a failover`,
    )
    this.name = 'ReplicaAckError'
    this.acks = got
  }
}

interface Op {
  cmd: string
  args: (string | number | Buffer)[]
  resolve: (v: unknown) => void
  reject: (e: Error) => void
}

type Commands = Record<string, (...a: (string | number | Buffer)[]) => ChainableCommander>

export interface DurableWriter {
  /** Runs one command (a defined script's name, or a Redis command) and returns its reply once acknowledged. */
  run(cmd: string, ...args: (string | number | Buffer)[]): Promise<unknown>
}

export function createDurableWriter(redis: RedisClient, d: Durability): DurableWriter {
  let queue: Op[] = []
  let flushing = false

  const flush = async () => {
    if (flushing) return
    flushing = true
    while (queue.length > 0) {
      const batch = queue
      queue = []
      const pipe = redis.pipeline()
      for (const op of batch) (pipe as unknown as Commands)[op.cmd]?.(...op.args)
      pipe.wait(d.acks, d.timeoutMs)
      try {
        const results = (await pipe.exec()) ?? []
        const waited = results[batch.length]
        const got = waited && !waited[0] ? Number(waited[1]) : 0
        const short = got < d.acks
        if (short) d.onShortfall?.(got)
        batch.forEach((op, i) => {
          const [e, value] = results[i] ?? [new Error('no reply'), null]
          if (e) op.reject(e)
          else if (short)
            op.reject(Object.assign(new ReplicaAckError(got, d.acks, d.timeoutMs), { reply: value }))
          else op.resolve(value)
        })
      } catch (e) {
        for (const op of batch) op.reject(e as Error)
      }
    }
    flushing = false
  }

  return {
    run(cmd, ...args) {
      return new Promise((resolve, reject) => {
        queue.push({ cmd, args, resolve, reject })
        void flush()
      })
    },
  }
}
