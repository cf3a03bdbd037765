// The example config (config/airlock.example.yaml), and a directory and environment it loads from (its signing key
// file, REDIS_URL, Slack secrets and a master key), for tests that edit one section of it.
import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig, type ParseOptions } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'

export const EXAMPLE = readFileSync(new URL('../../config/airlock.example.yaml', import.meta.url), 'utf8')

export function exampleLoadOptions(name: string) {
  const dir = mkdtempSync(join(tmpdir(), `airlock-${name}-`))
  mkdirSync(join(dir, 'secrets'))
  writeFileSync(
    join(dir, 'secrets', 'airlock-signing.pem'),
    generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  )
  return {
    opts: {
      baseDir: dir,
      env: {
        REDIS_URL: 'redis://localhost:6379/0',
        SLACK_BOT_TOKEN: 'x',
        SLACK_SIGNING_SECRET: 'y',
        CONSOLE_OIDC_SECRET: 'z',
        AIRLOCK_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
      },
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** The problems the loader reports for a config text, [] when it loads. */
export function loadProblems(yaml: string, opts: ParseOptions): ConfigError['problems'] {
  try {
    parseConfig(yaml, opts)
    return []
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    return e.problems
  }
}
