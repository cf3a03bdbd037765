// One `airlock serve` child on the test Redis, with what process tests share: a key prefix of their
// own, fresh principal keys, a temp dir, a HOME for the CLI, an environment to run the CLI as a
// principal, and a session read through the API as ops.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inject } from 'vitest'
import {
  freePort,
  startBrokerProcess,
  tempDir,
  writeSigningKey,
  type BrokerProcess,
} from './broker-process.js'
import { deletePrefix, newKeys, testConfigYaml, type PrincipalName, type YamlOptions } from './fixtures.js'

export interface CliBroker {
  redisUrl: string
  prefix: string
  keys: Record<PrincipalName, string>
  dir: string
  home: string
  /** The running broker; throws before `start`. */
  readonly broker: BrokerProcess
  /** Writes a config (its own port and signing key, plus `yaml`) and starts the broker on it. */
  start(
    yaml?: Omit<YamlOptions, 'port' | 'signingKeyPath'>,
    env?: Record<string, string>,
  ): Promise<BrokerProcess>
  /** Stops the broker and deletes this test's keys from Redis. */
  stop(): Promise<void>
  /** The environment for running the CLI as `who` against the broker. */
  as(who: PrincipalName, extra?: Record<string, string>): Record<string, string>
  /** A session as ops sees it through the API. */
  session<T = { status: string; revoked_by: string | null }>(id: string): Promise<T>
}

/** `tag` tells this test's Redis keys apart; `home` defaults to a fresh temp dir. */
export function cliBroker(tag: string, o: { home?: (dir: string) => string } = {}): CliBroker {
  const redisUrl = inject('redisUrl')
  const dir = tempDir()
  let running: BrokerProcess | undefined
  const fx: CliBroker = {
    redisUrl,
    prefix: `airlock-test:${Date.now().toString(36)}${tag}:`,
    keys: newKeys(),
    dir,
    home: o.home ? o.home(dir) : mkdtempSync(join(tmpdir(), 'airlock-home-')),
    get broker() {
      if (!running) throw new Error('the broker is not started')
      return running
    },
    async start(yaml = {}, env = {}) {
      const signing = writeSigningKey(dir)
      const port = await freePort()
      const config = join(dir, 'airlock.yaml')
      writeFileSync(
        config,
        testConfigYaml(fx.prefix, fx.keys, { ...yaml, port, signingKeyPath: signing.path }),
      )
      running = await startBrokerProcess(config, { REDIS_URL: redisUrl, ...env })
      return running
    },
    async stop() {
      await running?.stop()
      await deletePrefix(redisUrl, fx.prefix)
    },
    as: (who, extra = {}) => ({
      AIRLOCK_URL: fx.broker.url,
      AIRLOCK_TOKEN: fx.keys[who],
      HOME: fx.home,
      XDG_CONFIG_HOME: join(fx.home, '.config'),
      NO_COLOR: '1',
      ...extra,
    }),
    session: async <T>(id: string) =>
      (await (
        await fetch(`${fx.broker.url}/v1/sessions/${id}`, {
          headers: { authorization: `Bearer ${fx.keys.ops}` },
        })
      ).json()) as T,
  }
  return fx
}

/** The options naming a staging read session of `task` on `provider`. */
export const agentArgs = (task: string, provider = 'internal-api') => [
  '--env',
  'staging',
  '--class',
  'read',
  '--provider',
  provider,
  '--task',
  task,
]
