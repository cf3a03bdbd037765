// A vault record is bound to its path and version: someone able to write Redis cannot put an older
// ciphertext of a secret (a revoked credential) back under the current version, and records sealed
// before that binding existed are migrated once, then never accepted again.
import { Redis } from 'ioredis'
import { createCipheriv, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest'
import { systemClock } from '../../src/clock.js'
import { redisKeys } from '../../src/store/keys.js'
import { masterKeyWrapper, VaultOpenError, type SealedRecord } from '../../src/vault/crypto.js'
import { redisVaultStorage, type VaultStorage } from '../../src/vault/storage.js'
import { openVault } from '../../src/vault/vault.js'
import { deletePrefix } from '../helper.js'

const redisUrl = inject('redisUrl')
const masterKey = randomBytes(32)
const wrapper = masterKeyWrapper(masterKey)

/** A record exactly as brokers before the version binding sealed it (AAD: the path only). */
function legacySeal(path: string, value: string, version: number): SealedRecord {
  const aad = Buffer.from(`airlock-vault/v1\0${path}`)
  const gcm = (key: Buffer, plain: Buffer) => {
    const iv = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', key, iv).setAAD(aad)
    const ct = Buffer.concat([c.update(plain), c.final()])
    return { iv, tag: c.getAuthTag(), ct }
  }
  const dataKey = randomBytes(32)
  const inner = gcm(dataKey, Buffer.from(value))
  const outer = gcm(masterKey, dataKey)
  return {
    v: 1,
    path,
    version,
    kek: 'master:v1',
    dk: Buffer.concat([outer.iv, outer.tag, outer.ct]).toString('base64'),
    iv: inner.iv.toString('base64'),
    tag: inner.tag.toString('base64'),
    ct: inner.ct.toString('base64'),
    updated_at: new Date().toISOString(),
    updated_by: 'ops',
  }
}

describe('records bound to their version (real Redis)', () => {
  let prefix: string
  let storage: VaultStorage
  let raw: Redis
  const hash = () => redisKeys(prefix).vault
  /** What an attacker with write access to Redis does: replace the record behind the vault's back. */
  const plant = async (rec: SealedRecord) => raw.hset(hash(), rec.path, JSON.stringify(rec))
  const stored = async (path: string) => JSON.parse((await raw.hget(hash(), path)) as string) as SealedRecord

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

  it('an older ciphertext put back under the current version does not open', async () => {
    const v = await openVault({ storage, wrapper, clock: systemClock })
    await v.put('aws/broker', 'REVOKED-key', 'ops')
    const old = await stored('aws/broker')
    await v.put('aws/broker', 'CURRENT-key', 'ops')
    const current = await stored('aws/broker')
    expect(current.version).toBe(2)

    await plant({ ...old, version: current.version, updated_at: current.updated_at })
    await expect(v.get('aws/broker')).rejects.toBeInstanceOf(VaultOpenError)
    // A fresh process (no cache) refuses it just the same.
    const other = await openVault({ storage, wrapper, clock: systemClock })
    await expect(other.get('aws/broker')).rejects.toThrow('vault secret aws/broker cannot be opened')

    await plant(current)
    expect(await v.get('aws/broker')).toBe('CURRENT-key')
  })

  it('a deleted secret written again gets a new version, so its old ciphertext cannot return', async () => {
    const v = await openVault({ storage, wrapper, clock: systemClock })
    await v.put('gh/app', 'REVOKED-key', 'ops')
    const old = await stored('gh/app')
    expect(await v.delete('gh/app', 'ops')).toBe(true)
    expect(await v.version('gh/app')).toBe(0)
    expect((await v.list()).map((m) => m.path)).not.toContain('gh/app')
    expect(await v.delete('gh/app', 'ops')).toBe(false)
    expect(await v.put('gh/app', 'CURRENT-key', 'ops')).toMatchObject({ version: 2 })

    await plant({ ...old, version: 2 })
    await expect(v.get('gh/app')).rejects.toBeInstanceOf(VaultOpenError)
  })

  it('a record sealed for another path does not open here, whatever its version says', async () => {
    const v = await openVault({ storage, wrapper, clock: systemClock })
    await v.put('pg/staging', 'staging-url', 'ops')
    await v.put('pg/prod', 'prod-url', 'ops')
    const staging = await stored('pg/staging')
    await plant({ ...staging, path: 'pg/prod' })
    await expect(v.get('pg/prod')).rejects.toBeInstanceOf(VaultOpenError)
  })

  it('a vault sealed before the binding is migrated at start, then refuses the old format', async () => {
    const own = `airlock-test:${randomBytes(5).toString('hex')}:`
    const s = await redisVaultStorage(redisUrl, own)
    const put = (rec: SealedRecord) => raw.hset(redisKeys(own).vault, rec.path, JSON.stringify(rec))
    try {
      const revoked = legacySeal('aws/broker', 'REVOKED-key', 1)
      await put(legacySeal('airlock/canary', 'airlock', 1))
      await put(legacySeal('aws/broker', 'CURRENT-key', 2))
      await put(legacySeal('slack/bot', 'xoxb-1', 1))

      const v = await openVault({ storage: s, wrapper, clock: systemClock })
      expect(await v.get('aws/broker')).toBe('CURRENT-key')
      expect(await v.get('slack/bot')).toBe('xoxb-1')
      const after = Object.values(await raw.hgetall(redisKeys(own).vault)).map(
        (j) => JSON.parse(j) as SealedRecord,
      )
      expect(after.map((r) => [r.path, r.v, r.version]).sort()).toEqual([
        ['airlock/canary', 2, 1],
        ['aws/broker', 2, 2],
        ['slack/bot', 2, 1],
      ])

      // Migrated: an old-format record is refused now, by this broker and the next one.
      await put({ ...revoked, version: 2 })
      await expect(v.get('aws/broker')).rejects.toBeInstanceOf(VaultOpenError)
      const next = await openVault({ storage: s, wrapper, clock: systemClock })
      await expect(next.get('aws/broker')).rejects.toBeInstanceOf(VaultOpenError)
    } finally {
      await s.close()
      await deletePrefix(redisUrl, own)
    }
  })
})
