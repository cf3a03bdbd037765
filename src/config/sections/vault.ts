// The `vault` section: its backend, and the master key from vault.master_key (env: or file:) or
// AIRLOCK_MASTER_KEY. The key itself is never stored beside the data it opens.
import { resolve } from 'node:path'
import { errorText, type BuildContext } from '../context.js'
import { VaultSchema } from '../schema.js'
import { resolveRef } from '../secrets.js'
import type { StoreConfig, VaultConfig } from '../types.js'

export function buildVault(ctx: BuildContext, store: Pick<StoreConfig, 'redis'>): VaultConfig {
  const { opts, report } = ctx
  const vault = ctx.section(VaultSchema, 'vault')
  if (vault?.backend === 'file' && vault.file === undefined)
    report('vault.file', 'required with backend: file')
  const masterRef = vault?.master_key
  const masterText =
    masterRef !== undefined
      ? masterRef.startsWith('vault:')
        ? (report('vault.master_key', 'cannot be kept in the vault it opens'), null)
        : ctx.secret('vault.master_key', () => resolveRef(masterRef, opts))
      : (opts.env['AIRLOCK_MASTER_KEY'] ?? null)
  let masterKey: Buffer | null = null
  // Set but empty is a mistake to name, not "no vault": an empty key opens nothing.
  if (masterText === '')
    report('AIRLOCK_MASTER_KEY', 'is set but empty (unset it, or give the base64 of 32 bytes)')
  else if (masterText) {
    try {
      masterKey = parseMasterKey(masterText)
    } catch (e) {
      report(masterRef !== undefined ? 'vault.master_key' : 'AIRLOCK_MASTER_KEY', errorText(e))
    }
  }
  return {
    backend: vault?.backend ?? (store.redis ? 'redis' : 'memory'),
    file: vault?.file === undefined ? null : resolve(opts.baseDir, vault.file),
    masterKey,
  }
}

/** AIRLOCK_MASTER_KEY / vault.master_key: base64 of exactly 32 bytes. */
export function parseMasterKey(b64: string): Buffer {
  const text = b64.trim()
  const key = Buffer.from(text, 'base64')
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || key.length !== 32)
    throw new Error('expected base64 of exactly 32 bytes')
  return key
}
