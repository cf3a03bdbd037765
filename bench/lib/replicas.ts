// `airlock serve` replicas for the expiry and soak benchmarks: their config, start and stop, and
// the CPU time they and Redis used.
import type { Redis } from 'ioredis'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sha256Hex } from '../../src/auth/apikeys.js'
import { freePort } from '../../test/support/redis-server.js'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Every broker started, so a failing run stops them all. */
export const brokers: ChildProcess[] = []

/** A bench config's server, store, tokens, staging/read and the bench-bot agent, up to `providers:`. */
export function benchConfigHead(
  port: number,
  redisUrl: string,
  prefix: string,
  keyFile: string,
  botKey: string,
) {
  return `
server: { host: 127.0.0.1, port: ${port}, public_url: "http://127.0.0.1:${port}" }
store: { redis_url: ${JSON.stringify(redisUrl)}, key_prefix: ${JSON.stringify(prefix)} }
tokens: { algorithm: EdDSA, signing_key: ${JSON.stringify(`file:${keyFile}`)} }
environments: [{ name: staging }]
operation_classes: [{ name: read }]
agents:
  - { id: bench-bot, api_key_sha256: ${sha256Hex(botKey)} }
`
}

export function configYaml(port: number, redisUrl: string, prefix: string, keyFile: string, botKey: string) {
  return `${benchConfigHead(port, redisUrl, prefix, keyFile, botKey)}providers:
  - { name: bench-api, type: jwt, audience: bench-api }
policies:
  - description: bench-bot reads staging freely
    agents: [bench-bot]
    environments: [staging]
    operation_classes: [read]
    providers: [bench-api]
audit: { stdout: false }
rate_limits: { per_agent_per_minute: 1000000 }
`
}

/** Starts `airlock serve` and resolves once it answers /readyz; `nodeArgs` go before the script. */
export async function startBroker(
  configFile: string,
  port: number,
  logFile: string,
  nodeArgs: string[] = [],
): Promise<ChildProcess> {
  const fd = openSync(logFile, 'a')
  const child = spawn(
    process.execPath,
    [...nodeArgs, join(ROOT, 'bin', 'airlock.js'), 'serve', '--config', configFile],
    { cwd: ROOT, stdio: ['ignore', 'ignore', fd] },
  )
  closeSync(fd)
  brokers.push(child)
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`broker exited (${child.exitCode}); see ${logFile}`)
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) return child
    await sleep(100)
  }
  throw new Error('broker not ready after 30 s')
}

export async function stopBroker(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return
  await new Promise<void>((done) => {
    c.once('exit', () => done())
    c.kill('SIGTERM')
  })
}

/** CPU seconds of a process so far (Linux /proc). */
export const procCpu = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

/** Resident set size of a process in bytes (Linux /proc). */
export const procRss = (pid: number): number =>
  Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024

/** CPU seconds Redis used so far (INFO cpu). */
export const redisCpu = async (r: Redis): Promise<number> => {
  const info = await r.info('cpu')
  const field = (n: string) => Number(new RegExp(`^${n}:(.*)$`, 'm').exec(info)?.[1] ?? 0)
  return field('used_cpu_user') + field('used_cpu_sys')
}

/** Redis used_memory in bytes (INFO memory). */
export const redisUsed = async (r: Redis): Promise<number> =>
  Number(/^used_memory:(\d+)/m.exec(await r.info('memory'))?.[1])

/** Runs `npm run build` unless `skip`; false when the build failed. */
export function build(skip: boolean | undefined, log: (s: string) => void): boolean {
  if (skip) return true
  log('building (npm run build)')
  return spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 2, 2] }).status === 0
}

export interface ReplicaSet {
  keyFile: string
  /** The bench-bot agent's API key. */
  botKey: string
  /** Where every replica's stderr goes. */
  logFile: string
  replicas: { port: number; config: string }[]
}

/** Writes a signing key and one config per replica (each on a free port) into `dir`. */
export async function writeReplicaSet(
  dir: string,
  count: number,
  redisUrl: string,
  prefix: string,
): Promise<ReplicaSet> {
  const keyFile = join(dir, 'key.pem')
  await writeFile(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const botKey = `ak_bench-bot_${randomBytes(18).toString('base64url')}`
  const replicas: ReplicaSet['replicas'] = []
  for (let i = 0; i < count; i++) {
    const port = await freePort()
    const config = join(dir, `airlock-${i}.yaml`)
    await writeFile(config, configYaml(port, redisUrl, prefix, keyFile, botKey))
    replicas.push({ port, config })
  }
  return { keyFile, botKey, logFile: join(dir, 'brokers.log'), replicas }
}

/** Runs a benchmark's `main`, logs what it threw, stops every broker, cleans up and exits. */
export function runBench(
  main: () => Promise<number>,
  log: (s: string) => void,
  cleanup: () => Promise<unknown>,
): void {
  void main()
    .catch((e: unknown) => {
      log((e as Error).stack ?? String(e))
      return 1
    })
    .then(async (code) => {
      await Promise.all(brokers.map(stopBroker))
      await cleanup()
      process.exit(code)
    })
}
