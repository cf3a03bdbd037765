// Token signing keys kept in the vault (airlock/signing-keys), shared by every replica: generated
// on first start, rotated on a schedule and on demand. Retired keys stay published (and accepted)
// while tokens they signed may still be live, then they are dropped.
import { generateKeyPairSync } from 'node:crypto'
import { loadSigningKey, type SigningAlg, type SigningKey } from '../tokens/keys.js'
import type { Vault } from './vault.js'

export const KEYRING_PATH = 'airlock/signing-keys'

interface RingEntry {
  alg: SigningAlg
  pem: string
  created_at: number
  retired_at: number | null
}

export interface KeySet {
  active: SigningKey
  retired: SigningKey[]
  activeSince: number
}

const generatePem = (alg: SigningAlg): string =>
  (alg === 'EdDSA'
    ? generateKeyPairSync('ed25519').privateKey
    : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  )
    .export({ type: 'pkcs8', format: 'pem' })
    .toString()

export function createKeyring(deps: {
  vault: Vault
  alg: SigningAlg
  /** Read at every use: a reload may lengthen it. */
  maxTokenTtlMs: () => number
  now: () => number
}) {
  const { vault, alg } = deps
  const parsed = new Map<string, SigningKey>() // pem -> key object, imported once

  const read = async (): Promise<{ version: number; ring: RingEntry[] }> => {
    const version = await vault.version(KEYRING_PATH)
    if (version === 0) return { version, ring: [] }
    return { version, ring: JSON.parse(await vault.get(KEYRING_PATH)) as RingEntry[] }
  }

  /** Retired keys whose tokens may still be live (plus a minute of clock skew) stay. */
  const notAfter = (e: RingEntry) =>
    e.retired_at === null ? undefined : e.retired_at + deps.maxTokenTtlMs() + 60_000
  const prune = (ring: RingEntry[], now: number) => ring.filter((e) => (notAfter(e) ?? Infinity) > now)

  const write = (ring: RingEntry[], version: number, actor: string) =>
    vault.put(KEYRING_PATH, JSON.stringify(ring), actor, version)

  const keyOf = async (e: RingEntry): Promise<SigningKey> => {
    let k = parsed.get(e.pem)
    if (!k) {
      k = await loadSigningKey(e.pem, e.alg)
      parsed.set(e.pem, k)
    }
    return k
  }

  return {
    /** The current key set; creates the first key if the vault has none (first start). */
    async load(): Promise<KeySet> {
      for (let attempt = 0; attempt < 5; attempt++) {
        const { version, ring } = await read()
        const now = deps.now()
        const live = prune(ring, now)
        const active = live.find((e) => e.retired_at === null)
        if (active) {
          const retired = await Promise.all(
            live
              .filter((e) => e !== active)
              .map(async (e) => ({ ...(await keyOf(e)), notAfter: notAfter(e) })),
          )
          return { active: await keyOf(active), retired, activeSince: active.created_at }
        }
        // Two replicas starting on an empty vault: one write wins, the other re-reads.
        await write(
          [...live, { alg, pem: generatePem(alg), created_at: now, retired_at: null }],
          version,
          'airlock',
        )
      }
      throw new Error('could not establish a signing key in the vault')
    },

    /**
     * Makes a new active key and retires the current one; returns the new key id. `dropPrevious`
     * (a key that may have leaked): every other key is dropped instead of retired, so tokens they
     * signed stop verifying at once, on every replica, and they leave the JWKS.
     */
    async rotate(
      actor: string,
      opts: { dropPrevious?: boolean } = {},
    ): Promise<{ kid: string; previous: string | null; dropped: string[] }> {
      for (let attempt = 0; attempt < 5; attempt++) {
        const { version, ring } = await read()
        const now = deps.now()
        const current = ring.find((e) => e.retired_at === null)
        const next: RingEntry = { alg, pem: generatePem(alg), created_at: now, retired_at: null }
        const kept = opts.dropPrevious
          ? []
          : prune(
              ring.map((e) => (e.retired_at === null ? { ...e, retired_at: now } : e)),
              now,
            )
        // Only keys still accepted count as dropped: a pruned one no longer verified anything.
        const dropped = opts.dropPrevious ? prune(ring, now) : []
        if (await write([...kept, next], version, actor)) {
          const kidOf = async (e: RingEntry) => (await keyOf(e)).kid
          const out = {
            kid: await kidOf(next),
            previous: current ? await kidOf(current) : null,
            dropped: await Promise.all(dropped.map(kidOf)),
          }
          parsed.clear()
          return out
        }
      }
      throw new Error('signing keys changed concurrently; try again')
    },

    /** Rotation on schedule (run by the sweeper lease holder). */
    async rotateIfDue(everyMs: number): Promise<{ kid: string; previous: string | null } | null> {
      const { ring } = await read()
      const active = ring.find((e) => e.retired_at === null)
      if (active && deps.now() - active.created_at < everyMs) return null
      return this.rotate('airlock')
    },
  }
}

export type Keyring = ReturnType<typeof createKeyring>
