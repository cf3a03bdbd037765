// Real highly available Redis topologies for tests and the benchmark, on free ports: a primary with
// replicas watched by three sentinels (short timeouts, so a failover takes a few seconds), and a
// Redis Cluster of three primaries. Everything started here is stopped by `stop()`, by pid.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { RedisConnection } from '../../src/config/types.js'
import { redisKeys } from '../../src/store/keys.js'
import { freePort, redisServer, type RedisServer } from './redis-server.js'

/** Spawns `redis-server args` and resolves once a line of its output matches `ready`. */
function spawnRedis(args: string[], ready: RegExp): Promise<ChildProcess> {
  const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  return new Promise((resolve, reject) => {
    let out = ''
    const onData = (b: Buffer) => {
      out += b.toString()
      if (ready.test(out)) {
        c.stdout?.off('data', onData)
        c.stdout?.resume()
        resolve(c)
      }
    }
    c.stdout?.on('data', onData)
    c.once('error', reject)
    c.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out.slice(-500)}`)))
  })
}

const kill = async (c: ChildProcess) => {
  if (c.exitCode !== null || c.signalCode !== null) return
  await new Promise<void>((resolve) => {
    c.once('exit', () => resolve())
    c.kill('SIGKILL')
  })
}

/** Polls `check` (every 50 ms) until it returns true; throws after `ms`. */
export async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function ask<T>(port: number, f: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 500,
    commandTimeout: 1000,
  })
  r.on('error', () => {})
  try {
    await r.connect()
    return await f(r)
  } finally {
    r.disconnect()
  }
}

const field = (info: string, name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim()

/** Settings infra/ recommends for the data nodes (no eviction; replicas read-only). */
const DATA_NODE_ARGS = ['--maxmemory-policy', 'noeviction', '--replica-read-only', 'yes']

export interface SentinelSet {
  name: string
  nodes: RedisServer[]
  sentinelPorts: number[]
  connection(): RedisConnection
  /** The port of the node the sentinels name as primary now. */
  primaryPort(): Promise<number>
  /** Resolves once the sentinels name a primary other than `oldPort` and it has `replicas` replicas online. */
  failedOver(oldPort: number, replicas: number): Promise<number>
  /** SIGSTOPs (true) or SIGCONTs (false) sentinel `i`: it still accepts connections but answers nothing. */
  stall(i: number, stalled: boolean): void
  stop(): Promise<void>
}

export async function startSentinelSet(replicas: number, name = 'airlock'): Promise<SentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sentinel-'))
  // A full resync writes an RDB file even with `save ""`: into the temporary folder, not the cwd.
  const args = [...DATA_NODE_ARGS, '--dir', dir]
  const primary = await redisServer(args)
  const nodes = [primary]
  for (let i = 0; i < replicas; i++)
    nodes.push(await redisServer([...args, '--replicaof', '127.0.0.1', String(primary.port)]))
  await until('replicas in sync', async () => {
    const info = await ask(primary.port, (r) => r.info('replication'))
    return (info.match(/state=online/g) ?? []).length === replicas
  })
  const sentinelPorts: number[] = []
  const sentinels: ChildProcess[] = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    const conf = join(dir, `sentinel-${port}.conf`)
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 2000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    )
    sentinels.push(await spawnRedis([conf, '--sentinel'], /\+monitor master/))
    sentinelPorts.push(port)
  }
  const sentinelView = (port: number) =>
    ask(port, async (r) => {
      const flat = (await r.call('SENTINEL', 'MASTER', name)) as string[]
      const m = new Map<string, string>()
      for (let i = 0; i + 1 < flat.length; i += 2) m.set(flat[i] as string, flat[i + 1] as string)
      return m
    })
  await until('sentinels that know each other and every replica', async () => {
    for (const port of sentinelPorts) {
      const m = await sentinelView(port)
      if (m.get('num-other-sentinels') !== '2' || m.get('num-slaves') !== String(replicas)) return false
    }
    return true
  })
  /** What the first sentinel that answers says (one may be stalled). */
  const primaryPort = async () => {
    let last: unknown
    for (const sentinel of sentinelPorts) {
      try {
        const [, port] = (await ask(sentinel, (r) =>
          r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name),
        )) as [string, string]
        return Number(port)
      } catch (e) {
        last = e
      }
    }
    throw last
  }
  return {
    name,
    nodes,
    sentinelPorts,
    connection: () => ({
      kind: 'sentinel',
      name,
      sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
      password: null,
      sentinelPassword: null,
      tls: null,
    }),
    primaryPort,
    async failedOver(oldPort, want) {
      let port = oldPort
      await until('a failover', async () => {
        port = await primaryPort()
        if (port === oldPort) return false
        const info = await ask(port, (r) => r.info('replication'))
        return field(info, 'role') === 'master' && (info.match(/state=online/g) ?? []).length >= want
      })
      return port
    },
    stall(i, stalled) {
      sentinels[i]?.kill(stalled ? 'SIGSTOP' : 'SIGCONT')
    },
    async stop() {
      for (const s of sentinels) await kill(s)
      for (const n of nodes) await n.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface RedisClusterSet {
  ports: number[]
  connection(): RedisConnection
  /** Deletes a prefix's keys on every primary. */
  deletePrefix(prefix: string): Promise<void>
  stop(): Promise<void>
}

/** Three primaries, no replicas: every slot assigned, cluster_state ok. */
export async function startCluster(primaries = 3): Promise<RedisClusterSet> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-cluster-'))
  const procs: ChildProcess[] = []
  const ports: number[] = []
  for (let i = 0; i < primaries; i++) {
    const port = await freePort()
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ]
    const cluster = ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`)]
    procs.push(await spawnRedis([...args, ...cluster, ...DATA_NODE_ARGS], /Ready to accept connections/))
    ports.push(port)
  }
  // Slots split evenly, then every node meets the first.
  const per = Math.ceil(16384 / primaries)
  for (const [i, port] of ports.entries()) {
    const slots = Array.from({ length: Math.min(per, 16384 - i * per) }, (_, j) => i * per + j)
    await ask(port, async (r) => {
      await r.call('CLUSTER', 'ADDSLOTS', ...slots)
      if (i > 0) await r.call('CLUSTER', 'MEET', '127.0.0.1', String(ports[0]))
    })
  }
  await until('cluster_state:ok on every node', async () => {
    for (const port of ports) {
      const info = (await ask(port, (r) => r.call('CLUSTER', 'INFO'))) as string
      if (field(info, 'cluster_state') !== 'ok' || field(info, 'cluster_known_nodes') !== String(primaries))
        return false
    }
    return true
  })
  return {
    ports,
    connection: () => ({
      kind: 'cluster',
      nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
      password: null,
      tls: null,
    }),
    async deletePrefix(prefix) {
      const pattern = redisKeys(prefix).pattern
      for (const port of ports) {
        await ask(port, async (r) => {
          let cursor = '0'
          do {
            const [next, found] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
            cursor = next
            // One hash tag: the keys share a slot, so one DEL takes them.
            if (found.length > 0) await r.del(...found)
          } while (cursor !== '0')
        })
      }
    },
    async stop() {
      for (const p of procs) await kill(p)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
