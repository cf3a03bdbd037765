// Envelope encryption: each secret is sealed with AES-256-GCM under its own random data key; the
// data key is wrapped by a KeyWrapper (the master key here; AWS KMS could implement the same
// interface). The secret's path and version are authenticated data for both layers, so a record
// moved to another path, or an older ciphertext put back under the current version (a rollback to
// a revoked credential), does not open.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import type { Sealer } from '../../providers/types.js'

export interface KeyWrapper {
  /** Identifies the wrapping key (stored with each record; a KMS key ARN for a KMS wrapper). */
  readonly id: string
  wrap(dataKey: Buffer, context: string): Promise<Buffer>
  unwrap(wrapped: Buffer, context: string): Promise<Buffer>
}

export interface SealedRecord {
  /** 2: path and version authenticated. 1: path only (before the version binding; migrated). */
  v: 1 | 2
  path: string
  version: number
  kek: string
  /** Wrapped data key, base64: iv(12) | tag(16) | ciphertext(32). */
  dk: string
  iv: string
  tag: string
  ct: string
  updated_at: string
  updated_by: string
  /** A tombstone: the secret was deleted; its version is kept so versions are never reused. */
  deleted?: true
}

export class VaultOpenError extends Error {
  constructor(readonly path: string) {
    super(`vault secret ${path} cannot be opened (tampered, moved or sealed under another master key)`)
    this.name = 'VaultOpenError'
  }
}

const aad = (path: string) => Buffer.from(`airlock-vault/v1\0${path}`)
const aadV2 = (path: string, version: number) => Buffer.from(`airlock-vault/v2\0${path}\0${version}`)
/** The wrapping context of a v2 record: `@` is in no vault path and no sealing context (`:`). */
const wrapContext = (path: string, version: number) => `${path}@${version}`

function gcmSeal(key: Buffer, plaintext: Buffer, ad: Buffer) {
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(ad)
  const ct = Buffer.concat([c.update(plaintext), c.final()])
  return { iv, tag: c.getAuthTag(), ct }
}

function gcmOpen(key: Buffer, iv: Buffer, tag: Buffer, ct: Buffer, ad: Buffer): Buffer {
  if (iv.length !== 12 || tag.length !== 16) throw new Error('bad nonce or tag length')
  const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
  d.setAAD(ad)
  d.setAuthTag(tag)
  return Buffer.concat([d.update(ct), d.final()])
}

/** Wraps data keys with a 32-byte master key held only in memory. */
export function masterKeyWrapper(masterKey: Buffer): KeyWrapper {
  if (masterKey.length !== 32) throw new Error('the master key must be 32 bytes')
  const key = Buffer.from(masterKey)
  return {
    id: 'master:v1',
    async wrap(dataKey, context) {
      const { iv, tag, ct } = gcmSeal(key, dataKey, aad(context))
      return Buffer.concat([iv, tag, ct])
    },
    async unwrap(wrapped, context) {
      return gcmOpen(
        key,
        wrapped.subarray(0, 12),
        wrapped.subarray(12, 28),
        wrapped.subarray(28),
        aad(context),
      )
    },
  }
}

/**
 * While the master key is replaced: wraps under `current`, unwraps under `current` or, failing
 * that, `previous` (a record or sealed value not yet sealed again under the new key).
 */
export function withPreviousKey(current: KeyWrapper, previous: KeyWrapper): KeyWrapper {
  return {
    id: current.id,
    wrap: (dataKey, context) => current.wrap(dataKey, context),
    unwrap: (wrapped, context) =>
      current.unwrap(wrapped, context).catch(() => previous.unwrap(wrapped, context)),
  }
}

export async function seal(
  wrapper: KeyWrapper,
  path: string,
  value: string,
  meta: { version: number; updatedAt: string; updatedBy: string },
): Promise<SealedRecord> {
  if (!Number.isSafeInteger(meta.version) || meta.version < 1) throw new Error('bad record version')
  const dataKey = randomBytes(32)
  try {
    const { iv, tag, ct } = gcmSeal(dataKey, Buffer.from(value, 'utf8'), aadV2(path, meta.version))
    const dk = await wrapper.wrap(dataKey, wrapContext(path, meta.version))
    return {
      v: 2,
      path,
      version: meta.version,
      kek: wrapper.id,
      dk: dk.toString('base64'),
      iv: iv.toString('base64'),
      tag: tag.toString('base64'),
      ct: ct.toString('base64'),
      updated_at: meta.updatedAt,
      updated_by: meta.updatedBy,
    }
  } finally {
    dataKey.fill(0)
  }
}

/**
 * Opens a record found at `path`; any tampering (or the wrong master key) is a VaultOpenError.
 * A v1 record (its version not authenticated) opens only with `legacy`, during the migration.
 */
export async function open(
  wrapper: KeyWrapper,
  path: string,
  rec: SealedRecord,
  opts: { legacy?: boolean } = {},
): Promise<string> {
  let dataKey: Buffer | null = null
  try {
    if (rec.path !== path) throw new Error('record is for another path')
    const v2 = rec.v === 2
    if (!v2 && !(rec.v === 1 && opts.legacy)) throw new Error('record format not accepted')
    if (v2 && (!Number.isSafeInteger(rec.version) || rec.version < 1)) throw new Error('bad version')
    dataKey = await wrapper.unwrap(Buffer.from(rec.dk, 'base64'), v2 ? wrapContext(path, rec.version) : path)
    const plain = gcmOpen(
      dataKey,
      Buffer.from(rec.iv, 'base64'),
      Buffer.from(rec.tag, 'base64'),
      Buffer.from(rec.ct, 'base64'),
      v2 ? aadV2(path, rec.version) : aad(path),
    )
    return plain.toString('utf8')
  } catch {
    throw new VaultOpenError(path)
  } finally {
    dataKey?.fill(0)
  }
}

/**
 * The Sealer of providers/types.ts: small values that must be kept but are credentials themselves (a
 * provider's revocation handle), sealed under the master key. `context` is authenticated: a value
 * copied to another session or provider does not open. Contexts contain a `:` and vault paths never
 * do, so a sealed value and a vault record never share a wrapping context.
 */

const SEALED_PREFIX = 'sealed1.'
const sealAad = (context: string) => Buffer.from(`airlock-sealed/v1\0${context}`)

export function createSealer(wrapper: KeyWrapper): Sealer {
  return {
    async seal(context, value) {
      if (!context.includes(':')) throw new Error('a sealing context must contain a colon')
      const dataKey = randomBytes(32)
      try {
        const { iv, tag, ct } = gcmSeal(dataKey, Buffer.from(value, 'utf8'), sealAad(context))
        const dk = await wrapper.wrap(dataKey, context)
        return SEALED_PREFIX + [dk, iv, tag, ct].map((b) => b.toString('base64url')).join('.')
      } finally {
        dataKey.fill(0)
      }
    },
    async open(context, sealed) {
      let dataKey: Buffer | null = null
      try {
        const parts = sealed.startsWith(SEALED_PREFIX) ? sealed.slice(SEALED_PREFIX.length).split('.') : []
        if (parts.length !== 4) throw new Error('not a sealed value')
        const [dk, iv, tag, ct] = parts.map((p) => Buffer.from(p, 'base64url')) as [
          Buffer,
          Buffer,
          Buffer,
          Buffer,
        ]
        dataKey = await wrapper.unwrap(dk, context)
        return gcmOpen(dataKey, iv, tag, ct, sealAad(context)).toString('utf8')
      } catch {
        throw new Error(
          `a sealed value for ${context} cannot be opened (tampered, moved or another master key)`,
        )
      } finally {
        dataKey?.fill(0)
      }
    },
  }
}
