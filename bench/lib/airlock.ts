// The server under test: `airlock serve` from dist/ (bin/airlock.js) as a child process, with a
// config of its own (one agent, one resource server, a jwt provider, a rate limit nobody reaches).
// Its stdout (the audit stream) is discarded; its stderr (the pino log) goes to a file.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, openSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha256Hex } from '../../src/auth/apikeys.js'
import { writeSigningKey } from '../../test/support/broker-process.js'
import { freePort } from '../../test/support/redis-server.js'
import { logWarnings, stopChild, tail, waitUntilAnswers } from './child.js'
import type { Resources } from './resources.js'

/** The schema's ceiling for rate_limits.per_agent_per_minute (src/config/schema.ts). */
export const RATE_LIMIT = 1_000_000

export interface Airlock {
  base: string
  child: ChildProcess
  /** The agent's API key (issues sessions). */
  botKey: string
  /** The resource server's API key (introspects). */
  rsKey: string
  /** Stops the server; its exit code and the warnings and errors it logged. */
  stop(): Promise<{ exitCode: number | null; log: ReturnType<typeof logWarnings> }>
}

function configYaml(o: {
  port: number
  redisUrl: string
  prefix: string
  keyFile: string
  botKey: string
  rsKey: string
}): string {
  return `
server: { host: 127.0.0.1, port: ${o.port}, public_url: "http://127.0.0.1:${o.port}" }
store: { redis_url: ${JSON.stringify(o.redisUrl)}, key_prefix: ${JSON.stringify(o.prefix)} }
tokens: { algorithm: EdDSA, signing_key: ${JSON.stringify(`file:${o.keyFile}`)} }
environments: [{ name: staging }]
operation_classes: [{ name: read }]
agents:
  - { id: bench-bot, api_key_sha256: ${sha256Hex(o.botKey)} }
resource_servers:
  - { id: bench-rs, audiences: [bench-api], api_key_sha256: ${sha256Hex(o.rsKey)} }
providers:
  - { name: bench-api, type: jwt, audience: bench-api }
policies:
  - description: bench-bot reads staging freely
    agents: [bench-bot]
    environments: [staging]
    operation_classes: [read]
    providers: [bench-api]
audit: { stdout: true }
rate_limits: { per_agent_per_minute: ${RATE_LIMIT} }
`
}

/** Starts the server and resolves once /readyz answers 200 (StartError otherwise). */
export async function startAirlock(
  res: Resources,
  o: { root: string; redisUrl: string; prefix: string; profileDir: string | null },
): Promise<Airlock> {
  const tmp = await mkdtemp(join(tmpdir(), 'airlock-bench-'))
  res.defer('removing the temporary folder', () => rm(tmp, { recursive: true, force: true }))
  const keyFile = writeSigningKey(tmp).path
  const botKey = `ak_bench-bot_${randomBytes(18).toString('base64url')}`
  const rsKey = `ak_bench-rs_${randomBytes(18).toString('base64url')}`
  const port = await freePort()
  const configFile = join(tmp, 'airlock.yaml')
  const yaml = configYaml({ port, redisUrl: o.redisUrl, prefix: o.prefix, keyFile, botKey, rsKey })
  await writeFile(configFile, yaml, { mode: 0o600 })
  const base = `http://127.0.0.1:${port}`

  const logFile = join(tmp, 'server.log')
  const logFd = openSync(logFile, 'w')
  const env = { ...process.env }
  delete env['AIRLOCK_CONFIG']
  const profile = o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`] : []
  const child = spawn(
    process.execPath,
    [...profile, join(o.root, 'bin', 'airlock.js'), 'serve', '--config', configFile],
    { cwd: o.root, env, stdio: ['ignore', 'ignore', logFd] },
  )
  closeSync(logFd)
  res.defer('stopping the server', () => stopChild(child))
  await waitUntilAnswers(
    child,
    async () => {
      const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) })
      return r.status === 200 || `status ${r.status}`
    },
    {
      exited: (code) => `server exited (${code}) before it was ready:\n${tail(logFile, 20)}`,
      timedOut: (last) => `server not ready after 30 s (${last}):\n${tail(logFile, 20)}`,
    },
  )
  return {
    base,
    child,
    botKey,
    rsKey,
    async stop() {
      const exitCode = await stopChild(child)
      return { exitCode, log: logWarnings(logFile) }
    },
  }
}
