// The `vault` section: its backend, and the master key from vault.master_key (env: or file:) or
// AIRLOCK_MASTER_KEY (and, while replacing it, the previous one from vault.previous_master_key or
// AIRLOCK_PREVIOUS_MASTER_KEY). A key is never stored beside the data it opens.
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
  const key = (field: 'master_key' | 'previous_master_key', envName: string): Buffer | null => {
    const ref = vault?.[field]
    const name = ref !== undefined ? `vault.${field}` : envName
    const text =
      ref !== undefined
        ? ref.startsWith('vault:')
          ? (report(name, 'cannot be kept in the vault it opens'), null)
          : ctx.secret(name, () => resolveRef(ref, opts))
        : (opts.env[envName] ?? null)
    // Set but empty is a mistake to name, not "no vault": an empty key opens nothing.
    if (text === '') report(name, 'is set but empty (unset it, or give the base64 of 32 bytes)')
    else if (text) {
      try {
        return parseMasterKey(text)
      } catch (e) {
        report(name, errorText(e))
      }
    }
    return null
  }
  const masterKey = key('master_key', 'AIRLOCK_MASTER_KEY')
  const previousMasterKey = key('previous_master_key', 'AIRLOCK_PREVIOUS_MASTER_KEY')
  if (previousMasterKey && !masterKey && !vault?.master_key && !opts.env['AIRLOCK_MASTER_KEY'])
    report(
      vault?.previous_master_key !== undefined ? 'vault.previous_master_key' : 'AIRLOCK_PREVIOUS_MASTER_KEY',
      'is set without a current master key (set AIRLOCK_MASTER_KEY or vault.master_key to the new key)',
    )
  return {
    backend: vault?.backend ?? (store.redis ? 'redis' : 'memory'),
    file: vault?.file === undefined ? null : resolve(opts.baseDir, vault.file),
    masterKey,
    ...(previousMasterKey && { previousMasterKey }),
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
