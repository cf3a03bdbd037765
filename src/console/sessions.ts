// Signed-in console sessions, kept in the store (Redis, or memory for the dev broker) so every
// replica knows them and a sign-out ends them everywhere. The cookie holds 32 random bytes; the
// store holds only their SHA-256, so a copy of Redis signs nobody in. A session ends after
// console.idle_timeout without a request, or console.absolute_timeout after sign-in.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { sha256Hex } from '../auth/apikeys.js'
import type { Clock } from '../clock.js'
import type { ConsoleConfig, HumanConfig } from '../config/types.js'
import type { ConsoleStore } from '../store/types.js'
import type { Identity } from './oidc.js'

/** What an OIDC sign-in was matched on: the issuer, `sub`, and the email when it was verified. */
export interface OidcBinding {
  issuer: string
  sub: string
  email: string | null
}

export interface ConsoleSession {
  human: string
  method: 'oidc' | 'api_key'
  /**
   * Signed in with an API key: the SHA-256 of that key, so the session ends when the key is
   * replaced in the config (it is as strong as the key, and no longer).
   */
  key?: string
  /**
   * Signed in with OIDC: the identity it was matched on, so the session ends when the config no
   * longer names this person by it (an `oidc_subject` pinned, an email changed, another issuer).
   */
  oidc?: OidcBinding
  created_at: number
  last_seen: number
  /** The token every state-changing form carries. */
  csrf: string
}

/**
 * An email without case, folded in ASCII only: toLowerCase maps some other characters to ASCII
 * letters (U+212A KELVIN SIGN to k), which would let another mailbox pass for a configured one.
 */
const foldEmail = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase())

/** The human a verified identity names: `oidc_subject` first, then a (not unverified) email. */
export function matchHuman(humans: Iterable<HumanConfig>, id: Identity): HumanConfig | null {
  const all = [...humans]
  const bySub = all.find((h) => h.oidcSubject !== null && h.oidcSubject === id.sub)
  if (bySub) return bySub
  // An email is proof only where the provider says it verified it (some never say: pin those
  // people by oidc_subject), and never for someone pinned to a subject already.
  if (id.email === null || id.emailVerified !== true) return null
  const email = foldEmail(id.email)
  return all.find((h) => h.oidcSubject === null && h.email !== null && foldEmail(h.email) === email) ?? null
}

/**
 * The person a session still signs in: gone when they were removed from the config, when the
 * session came from an API key that is no longer theirs (or key sign-in was turned off), or from
 * an OIDC identity the config no longer matches to them (or single sign-on was turned off).
 */
export function sessionHuman(
  s: ConsoleSession,
  humans: ReadonlyMap<string, HumanConfig>,
  config: ConsoleConfig,
): HumanConfig | null {
  const human = humans.get(s.human)
  if (!human) return null
  if (s.method === 'api_key' && (s.key !== human.apiKeySha256 || !config.apiKeyLogin)) return null
  if (s.method === 'oidc') {
    const o = s.oidc
    if (!o || config.oidc?.issuer !== o.issuer) return null
    const now = matchHuman(humans.values(), { sub: o.sub, email: o.email, emailVerified: o.email !== null })
    if (now?.id !== human.id) return null
  }
  return human
}

export const newSecret = (): string => randomBytes(32).toString('base64url')

/** Equal strings, compared in constant time. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export function consoleSessions(deps: { store: ConsoleStore; clock: Clock; config: () => ConsoleConfig }) {
  const { store, clock } = deps
  /** When the session ends unless a request comes first. */
  const deadline = (s: ConsoleSession): number => {
    const c = deps.config()
    return Math.min(s.last_seen + c.idleTimeoutMs, s.created_at + c.absoluteTimeoutMs)
  }
  const parse = (json: string | null): ConsoleSession | null => {
    if (!json) return null
    try {
      return JSON.parse(json) as ConsoleSession
    } catch {
      return null
    }
  }

  return {
    deadline,

    async create(
      human: string,
      method: ConsoleSession['method'],
      proof: { key?: string; oidc?: OidcBinding } = {},
    ): Promise<{ cookie: string; session: ConsoleSession }> {
      const now = clock.now()
      const cookie = newSecret()
      const session: ConsoleSession = {
        human,
        method,
        ...(proof.key !== undefined && { key: proof.key }),
        ...(proof.oidc !== undefined && { oidc: proof.oidc }),
        created_at: now,
        last_seen: now,
        csrf: newSecret(),
      }
      await store.putConsoleRecord(
        'session',
        sha256Hex(cookie),
        JSON.stringify(session),
        deadline(session) - now,
        false,
        human,
      )
      return { cookie, session }
    },

    /**
     * The live session behind a cookie. `touch` counts this request as activity (a page the person
     * asked for; not a live refresh), which moves the idle deadline.
     */
    async read(cookie: string, touch: boolean): Promise<ConsoleSession | null> {
      const id = sha256Hex(cookie)
      const s = parse(await store.getConsoleRecord('session', id))
      const now = clock.now()
      if (!s) return null
      if (deadline(s) <= now) {
        await store.deleteConsoleRecord('session', id, s.human)
        return null
      }
      // Written at most every tenth of the idle timeout (and never after a sign-out: onlyIfExists).
      if (touch && now - s.last_seen >= Math.min(60_000, deps.config().idleTimeoutMs / 10)) {
        const next = { ...s, last_seen: now }
        const kept = await store.putConsoleRecord(
          'session',
          id,
          JSON.stringify(next),
          deadline(next) - now,
          true,
          s.human,
        )
        return kept ? next : null
      }
      return s
    },

    async end(cookie: string): Promise<ConsoleSession | null> {
      return endHashed(sha256Hex(cookie))
    },

    /** Ends the session a cookie of this SHA-256 held (kept where the cookie itself is not). */
    endHashed,

    /** Ends every console session of one person, on every replica; how many were live. */
    endAll: (human: string): Promise<number> => store.endConsoleSessions(human),
  }

  /** The session read first, for its owner: it leaves that person's index in the same step. */
  async function endHashed(id: string): Promise<ConsoleSession | null> {
    const s = parse(await store.getConsoleRecord('session', id))
    return parse(await store.takeConsoleRecord('session', id, s?.human))
  }
}

export type ConsoleSessions = ReturnType<typeof consoleSessions>
