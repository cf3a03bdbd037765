// The session profiles compact records name (src/store/record-codec.ts): written before the
// records that name them, kept at least as long, and read through a cache (a profile's key is
// its content's digest, so a cached profile is never out of date).
import type { SessionRecord } from '../../domain/session.js'
import { decodeRecord } from '../codec.js'
import { profileExpiry, type Keys } from '../keys.js'
import {
  isPacked,
  profileOf,
  unpackProfile,
  unpackRecord,
  type Packed,
  type Profile,
} from '../record-codec.js'
import type { RedisClient } from '../../redis/client.js'
import { StoreUnavailableError } from '../../errors.js'

/** How long this process trusts that a profile it wrote is still there (it is never rewritten sooner). */
const TRUST_MS = 60_000
const CACHE = 10_000

export interface Profiles {
  /** Writes what these records' profiles need to outlive them (nothing when this process just did). */
  save(writes: { packed: Packed; pxat: number }[]): Promise<void>
  /**
   * The records kept under these ids (null where there is none). A record whose profile is missing
   * throws, or, given `unreadable`, reads as null and has its id added there.
   */
  decode(
    ids: readonly string[],
    raw: readonly (string | null)[],
    unreadable?: string[],
  ): Promise<(SessionRecord | null)[]>
}

export function redisProfiles(redis: RedisClient, k: Keys): Profiles {
  const cache = new Map<string, Profile>()
  /** digest -> [kept until (ms), written at (ms)] of the profiles this process wrote. */
  const written = new Map<string, [number, number]>()
  const remember = <T>(m: Map<string, T>, key: string, value: T) => {
    if (m.size >= CACHE) m.clear()
    m.set(key, value)
  }
  // A failover can lose what the old primary had not passed on: after any reconnection, every
  // profile is written again before the next record that names it.
  redis.on('ready', () => written.clear())

  return {
    async save(writes) {
      const now = Date.now()
      const due = new Map<string, [string, number]>()
      for (const { packed, pxat } of writes) {
        const p = packed.profile
        if (!p) continue
        // This process reads what it writes without asking Redis for the profile again.
        if (!cache.has(p.id)) remember(cache, p.id, unpackProfile(p.text))
        const known = written.get(p.id)
        if (known && known[0] >= pxat && now - known[1] < TRUST_MS) continue
        const until = profileExpiry(pxat)
        if ((due.get(p.id)?.[1] ?? 0) < until) due.set(p.id, [p.text, until])
      }
      if (due.size === 0) return
      const batch = redis.pipeline()
      for (const [id, [text, until]] of due) {
        // NX keeps what is there (the same text: the key is its digest); GT only extends its life.
        batch.set(k.profile(id), text, 'PXAT', until, 'NX').pexpireat(k.profile(id), until, 'GT')
      }
      const replies = (await batch.exec()) ?? []
      const failed = replies.find(([e]) => e)
      if (failed) throw failed[0] as Error
      for (const [id, [, until]] of due) remember(written, id, [until, now])
    },

    async decode(ids, raw, unreadable) {
      const missing = new Set<string>()
      for (const text of raw) {
        if (text && isPacked(text) && !cache.has(profileOf(text))) missing.add(profileOf(text))
      }
      if (missing.size > 0) {
        const digests = [...missing]
        const found = await redis.mget(digests.map(k.profile))
        digests.forEach((d, i) => {
          const text = found[i]
          if (text) remember(cache, d, unpackProfile(text))
        })
      }
      return raw.map((text, i) => {
        if (!text) return null
        if (!isPacked(text)) return decodeRecord(text)
        const profile = cache.get(profileOf(text))
        if (!profile) {
          // Lost with a failover: the next record of this profile writes it again, which heals
          // this one too (the key is the content's digest). Until then the read fails closed.
          for (const d of missing) written.delete(d)
          if (unreadable) {
            unreadable.push(ids[i] as string)
            return null
          }
          throw new StoreUnavailableError(`the profile of session ${ids[i] as string} is missing; retry`)
        }
        return unpackRecord(text, ids[i] as string, profile)
      })
    },
  }
}
