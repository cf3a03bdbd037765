// Opening the vault for a broker and everything that hangs off it: the signing keys, `vault:`
// references in the config, and rotation notices to providers.
import type { Backend } from '../store/backend.js'
import type { Clock } from '../clock.js'
import type { AirlockConfig } from '../config/types.js'
import { createSecretSource } from '../secrets/source.js'
import { loadSigningKey } from '../tokens/keys.js'
import { masterKeyWrapper } from './crypto.js'
import { createKeyring, type KeySet, type Keyring } from './keyring.js'
import { fileVaultStorage, memoryVaultStorage, redisVaultStorage } from './storage.js'
import { openVault, type Vault } from './vault.js'

/**
 * Null when no master key is configured (then tokens.signing_key must be). vault.backend: file, or
 * the broker's backend (Redis on its own connections; memory without Redis).
 */
export async function vaultFor(config: AirlockConfig, clock: Clock, shared: Backend): Promise<Vault | null> {
  const { masterKey, previousMasterKey, backend, file } = config.vault
  if (!masterKey) return null
  const storage =
    backend === 'file' && file
      ? await fileVaultStorage(file)
      : backend === 'redis' && shared.kind === 'redis'
        ? await redisVaultStorage(shared.conn, shared.prefix)
        : memoryVaultStorage()
  try {
    return await openVault({
      storage,
      wrapper: masterKeyWrapper(masterKey),
      ...(previousMasterKey && { previous: masterKeyWrapper(previousMasterKey) }),
      clock,
    })
  } catch (e) {
    await storage.close()
    throw e
  }
}

export interface Signing {
  keys: KeySet
  /** Present when the vault manages the keys (rotation, sharing between replicas). */
  keyring: Keyring | null
}

/** tokens.signing_key (a file: or vault: PEM) pins one key; otherwise the vault's key ring. */
// The one resolver of secret references (src/secrets/source.ts), here for vault: ones.
const secretsOf = (config: AirlockConfig, vault: Vault) =>
  createSecretSource({ baseDir: config.baseDir, env: process.env, vault })

export async function signingKeys(
  config: AirlockConfig,
  vault: Vault | null,
  clock: Clock,
  /** How long a retired key stays: the longest token lifetime in force (it can grow on reload). */
  maxTokenTtlMs: () => number = () => config.tokens.maxTtlSeconds * 1000,
): Promise<Signing> {
  const alg = config.tokens.algorithm
  const deferred = config.deferredSecrets.find((d) => d.field === 'tokens.signing_key')
  if (deferred) {
    if (!vault)
      throw new Error('tokens.signing_key is a vault: reference but no vault master key is configured')
    const key = await loadSigningKey(await secretsOf(config, vault).resolve(deferred.ref), alg)
    return { keys: { active: key, retired: [], activeSince: 0 }, keyring: null }
  }
  if (config.tokens.signingKeyPem) {
    const key = await loadSigningKey(config.tokens.signingKeyPem, alg)
    return { keys: { active: key, retired: [], activeSince: 0 }, keyring: null }
  }
  if (!vault) {
    throw new Error(
      'no signing key: set tokens.signing_key, or give the vault a master key (AIRLOCK_MASTER_KEY) to generate and keep one',
    )
  }
  const keyring = createKeyring({
    vault,
    alg,
    maxTokenTtlMs,
    now: () => clock.now(),
  })
  return { keys: await keyring.load(), keyring }
}

export { memoryVaultStorage }
