// The vault: sealed secrets behind a storage backend, opened with the master key. Values leave
// only through get(), to the broker's own code (providers, Slack, signing keys); no route, command
// or log returns them.
import { iso, type Clock } from '../clock.js'
import {
  createSealer,
  open,
  seal,
  VaultOpenError,
  withPreviousKey,
  type KeyWrapper,
  type SealedRecord,
} from './crypto.js'
import type { Sealer } from '../../providers/types.js'
import { SecretMissingError } from '../secrets/source.js'
import { CorruptRecordError, type VaultStorage } from './storage.js'

/** Airlock's own keys live here; the API can neither write nor delete them. */
export const RESERVED_PREFIX = 'airlock/'
export const VAULT_PATH_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/
export const MAX_PATH = 256
const CANARY_PATH = 'airlock/canary'
const PUT_ATTEMPTS = 20

export class WrongMasterKeyError extends Error {
  constructor() {
    super(
      'the master key does not open the vault (AIRLOCK_MASTER_KEY or vault.master_key is not the one it was sealed with; to replace that key, give it as AIRLOCK_PREVIOUS_MASTER_KEY)',
    )
    this.name = 'WrongMasterKeyError'
  }
}

export interface SecretMeta {
  path: string
  version: number
  updated_at: string
  updated_by: string
}

export interface Vault {
  readonly backend: VaultStorage['kind']
  /** Seals values kept elsewhere (provider handles) under the same master key. */
  readonly sealer: Sealer
  get(path: string): Promise<string>
  /**
   * Writes a new version (after any written meanwhile); with `expectedVersion`, only if the
   * stored one still has it.
   */
  put(path: string, value: string, actor: string, expectedVersion?: number): Promise<SecretMeta | null>
  /** The stored version of a path (0 when absent), for compare-and-set updates. */
  version(path: string): Promise<number>
  delete(path: string, actor: string): Promise<boolean>
  list(): Promise<SecretMeta[]>
  onChange(listener: (path: string) => void): void
  ping(): Promise<void>
  close(): Promise<void>
}

const meta = (r: SealedRecord): SecretMeta => ({
  path: r.path,
  version: r.version,
  updated_at: r.updated_at,
  updated_by: r.updated_by,
})

/** Seals `rec` again under `wrapper`'s key, same value, version and metadata, if it is unchanged. */
async function reseal(storage: VaultStorage, wrapper: KeyWrapper, rec: SealedRecord, value: string) {
  const again = await seal(wrapper, rec.path, value, {
    version: rec.version,
    updatedAt: rec.updated_at,
    updatedBy: rec.updated_by,
  })
  // Only the record that was read (same wrapped data key): never over a newer one.
  await storage.put(again, rec.version, rec.dk)
}

/**
 * Seals every v1 record again as v2, the canary last, so a broker stopped halfway resumes at its
 * next start. A record that does not open is left as it is (it did not open before either).
 */
async function migrate(storage: VaultStorage, wrapper: KeyWrapper, canary: SealedRecord) {
  const records = (await storage.list()).filter((r) => r.v === 1 && r.path !== CANARY_PATH)
  for (const rec of [...records, canary]) {
    const value = await open(wrapper, rec.path, rec, { legacy: true }).catch(() => null)
    if (value !== null) await reseal(storage, wrapper, rec, value)
  }
}

/** Seals every record that only the previous master key opens again under the current one. */
async function rekey(storage: VaultStorage, current: KeyWrapper, either: KeyWrapper) {
  const opens = (w: KeyWrapper, rec: SealedRecord) => open(w, rec.path, rec).catch(() => null)
  for (const rec of await storage.list()) {
    if ((await opens(current, rec)) !== null) continue
    const value = await opens(either, rec)
    if (value !== null) await reseal(storage, current, rec, value)
  }
}

/** Opens the vault; refuses (WrongMasterKeyError) when the master key does not open it. */
export async function openVault(deps: {
  storage: VaultStorage
  wrapper: KeyWrapper
  /** The master key being replaced: what it sealed still opens, and is sealed again at start. */
  previous?: KeyWrapper
  clock: Clock
}): Promise<Vault> {
  const { storage, clock } = deps
  const wrapper = deps.previous ? withPreviousKey(deps.wrapper, deps.previous) : deps.wrapper
  // Keyed by the sealed record itself (its wrapped data key is fresh at every seal), not only its
  // version: a read that was opening the old record while it was deleted and written again must
  // not pass its value off as the new one's.
  const cache = new Map<string, { version: number; dk: string; value: string }>()
  const listeners: ((path: string) => void)[] = []
  storage.onChange((path) => {
    if (path === '*') cache.clear()
    else cache.delete(path)
    listeners.forEach((l) => l(path))
  })

  // A sealed canary proves the master key: an empty vault gets one, an existing one must open.
  // A canary in the old format (v1) means the vault predates the version binding: it opens, and
  // every v1 record is sealed again (same value and version) before the canary is, last.
  const canary = await storage.get(CANARY_PATH)
  const legacy = canary?.v === 1
  if (canary) {
    await open(wrapper, CANARY_PATH, canary, { legacy }).catch((e: unknown) => {
      throw e instanceof VaultOpenError ? new WrongMasterKeyError() : e
    })
    if (legacy) await migrate(storage, wrapper, canary)
    if (deps.previous) await rekey(storage, deps.wrapper, wrapper)
  } else {
    const rec = await seal(wrapper, CANARY_PATH, 'airlock', {
      version: 1,
      updatedAt: iso(clock.now()),
      updatedBy: 'airlock',
    })
    if (!(await storage.put(rec, 0))) {
      const other = await storage.get(CANARY_PATH)
      if (other)
        await open(wrapper, CANARY_PATH, other).catch(() => Promise.reject(new WrongMasterKeyError()))
    }
  }

  /** One compare-and-set write: its metadata, null if `expectedVersion` is not the stored one. */
  const putOnce = async (
    path: string,
    value: string,
    actor: string,
    expectedVersion: number | undefined,
  ): Promise<SecretMeta | null | 'raced'> => {
    // A corrupt record is replaced (version -1 to the store), so an admin can repair it by writing.
    // After a delete the versions go on from the tombstone's: never one a ciphertext had before.
    const stored = await storage.get(path).catch((e: unknown) => {
      if (e instanceof CorruptRecordError) return 'corrupt' as const
      throw e
    })
    const current = stored === 'corrupt' ? -1 : stored && !stored.deleted ? stored.version : 0
    const last = stored === 'corrupt' ? 0 : (stored?.version ?? 0)
    if (expectedVersion !== undefined && expectedVersion !== current) return null
    const rec = await seal(wrapper, path, value, {
      version: last + 1,
      updatedAt: iso(clock.now()),
      updatedBy: actor,
    })
    return (await storage.put(rec, current)) ? meta(rec) : 'raced'
  }

  return {
    backend: storage.kind,
    sealer: createSealer(wrapper),
    async get(path) {
      const rec = await storage.get(path)
      if (!rec || rec.deleted) throw new SecretMissingError(path)
      const hit = cache.get(path)
      if (hit && hit.version === rec.version && hit.dk === rec.dk) return hit.value
      const value = await open(wrapper, path, rec)
      cache.set(path, { version: rec.version, dk: rec.dk, value })
      return value
    },
    async put(path, value, actor, expectedVersion) {
      // Without an expected version a write that lost a race to another one is sealed again on
      // top of it: both are stored, as successive versions. Bounded, for a path written in a loop.
      for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
        const written = await putOnce(path, value, actor, expectedVersion)
        if (written !== 'raced') return written
        if (expectedVersion !== undefined) return null
      }
      return null
    },
    version: async (path) => {
      const rec = await storage.get(path)
      return rec && !rec.deleted ? rec.version : 0
    },
    delete: (path) => storage.delete(path),
    list: async () =>
      (await storage.list())
        .filter((r) => r.path !== CANARY_PATH)
        .map(meta)
        .sort((a, b) => (a.path < b.path ? -1 : 1)),
    onChange: (l) => void listeners.push(l),
    ping: () => storage.ping(),
    close: () => storage.close(),
  }
}
