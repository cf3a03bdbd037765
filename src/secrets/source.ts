// Resolves secret references for providers at the moment they need them, so a rotated vault
// secret or a rewritten file is picked up without a restart. Every value is non-empty.
import type { SecretSource } from '../../providers/types.js'
import { nonEmpty, resolveRef } from '../config/secrets.js'

export class SecretMissingError extends Error {
  constructor(readonly path: string) {
    super(`vault secret ${path} does not exist`)
    this.name = 'SecretMissingError'
  }
}

export interface VaultReader {
  get(path: string): Promise<string>
}

export function createSecretSource(opts: {
  baseDir: string
  env: NodeJS.ProcessEnv
  vault: VaultReader | null
}): SecretSource {
  return {
    async resolve(ref) {
      if (ref.startsWith('vault:')) {
        if (!opts.vault) throw new Error(`${ref}: the vault is not configured`)
        const path = ref.slice('vault:'.length)
        return nonEmpty(await opts.vault.get(path), `vault secret ${path}`)
      }
      return resolveRef(ref, { baseDir: opts.baseDir, env: opts.env })
    },
  }
}
