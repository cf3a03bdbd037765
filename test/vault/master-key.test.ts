// Replacing the vault's own master key: a broker given the new key and the previous one reads every
// record, seals each again under the new key at start, and after that the previous key is no
// longer needed. Without the previous key, the new one is refused as before.
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest'
import { systemClock } from '../../src/clock.js'
import { parseConfig } from '../../src/config/load.js'
import { redisKeys } from '../../src/store/keys.js'
import { masterKeyWrapper, type SealedRecord } from '../../src/vault/crypto.js'
import { redisVaultStorage, type VaultStorage } from '../../src/vault/storage.js'
import { openVault, WrongMasterKeyError } from '../../src/vault/vault.js'
import { deletePrefix, newKeys, testConfigYaml } from '../helper.js'

const redisUrl = inject('redisUrl')

describe('a new master key, with the previous one given once', () => {
  const oldKey = masterKeyWrapper(randomBytes(32))
  const newKey = masterKeyWrapper(randomBytes(32))
  let prefix: string
  let storage: VaultStorage
  let raw: Redis
  beforeAll(async () => {
    prefix = `airlock-test:${randomBytes(5).toString('hex')}:`
    storage = await redisVaultStorage(redisUrl, prefix)
    raw = new Redis(redisUrl)
  })
  afterAll(async () => {
    await storage.close()
    raw.disconnect()
    await deletePrefix(redisUrl, prefix)
  })
  const records = async () =>
    Object.values(await raw.hgetall(redisKeys(prefix).vault)).map((j) => JSON.parse(j) as SealedRecord)

  it('reads records under the previous key, seals them again, then needs only the new key', async () => {
    const before = await openVault({ storage, wrapper: oldKey, clock: systemClock })
    await before.put('aws/broker', 'aws-secret', 'ops')
    await before.put('aws/broker', 'aws-secret-2', 'ops')
    await before.put('pg/prod', 'pg-secret', 'ops')
    const handle = await before.sealer.seal('aws:sess_1', 'revocation-handle')
    const versions = (await records()).map((r) => [r.path, r.version]).sort()

    await expect(openVault({ storage, wrapper: newKey, clock: systemClock })).rejects.toThrow(
      WrongMasterKeyError,
    )
    const rotating = await openVault({ storage, wrapper: newKey, previous: oldKey, clock: systemClock })
    expect(await rotating.get('aws/broker')).toBe('aws-secret-2')
    expect(await rotating.get('pg/prod')).toBe('pg-secret')
    // Values sealed elsewhere under the previous key (live sessions' handles) still open.
    expect(await rotating.sealer.open('aws:sess_1', handle)).toBe('revocation-handle')
    // Same versions and metadata: only the sealing changed.
    expect((await records()).map((r) => [r.path, r.version]).sort()).toEqual(versions)

    const after = await openVault({ storage, wrapper: newKey, clock: systemClock })
    expect(await after.get('aws/broker')).toBe('aws-secret-2')
    expect(await after.get('pg/prod')).toBe('pg-secret')
    await expect(openVault({ storage, wrapper: oldKey, clock: systemClock })).rejects.toThrow(
      WrongMasterKeyError,
    )
  })
})

describe('the previous master key in the config', () => {
  const yaml = testConfigYaml('airlock-test:cfg:', newKeys())
  const b64 = () => randomBytes(32).toString('base64')

  it('comes from AIRLOCK_PREVIOUS_MASTER_KEY, next to AIRLOCK_MASTER_KEY', () => {
    const [current, previous] = [b64(), b64()]
    const c = parseConfig(yaml, {
      baseDir: process.cwd(),
      env: { REDIS_URL: 'redis://x', AIRLOCK_MASTER_KEY: current, AIRLOCK_PREVIOUS_MASTER_KEY: previous },
    })
    expect(c.vault.previousMasterKey?.toString('base64')).toBe(previous)
  })

  it('is refused, naming the variable, when it is not a key or there is no current key', () => {
    const env = { REDIS_URL: 'redis://x', AIRLOCK_MASTER_KEY: b64(), AIRLOCK_PREVIOUS_MASTER_KEY: 'short' }
    expect(() => parseConfig(yaml, { baseDir: process.cwd(), env })).toThrow(
      /AIRLOCK_PREVIOUS_MASTER_KEY: expected base64 of exactly 32 bytes/,
    )
    expect(() =>
      parseConfig(yaml, {
        baseDir: process.cwd(),
        env: { REDIS_URL: 'redis://x', AIRLOCK_PREVIOUS_MASTER_KEY: b64() },
      }),
    ).toThrow(/AIRLOCK_PREVIOUS_MASTER_KEY: .*without a current master key/)
  })
})
