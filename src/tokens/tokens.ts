// Session tokens (RFC 9068 profile): signed once per grant, verified (with jose) through a bounded
// cache of verified signatures. The cache only saves the signature check: callers still check
// revocation in the store on every introspection.
import { jwtVerify, type JWK } from 'jose'
import { hash, KeyObject, type webcrypto } from 'node:crypto'
import type { Clock } from '../clock.js'
import type { SigningKey } from './keys.js'
import { createThreadSigner, type Signer } from './signer.js'

export interface SessionClaims {
  iss: string
  sub: string
  client_id: string
  aud: string
  iat: number
  nbf: number
  exp: number
  jti: string
  sid: string
  env: string
  op: string
  provider: string
  task: string
}

export interface TokenService {
  sign(claims: Omit<SessionClaims, 'iss'>): Promise<string>
  /** The claims of a token this broker signed and that is within its lifetime, else null. */
  verify(token: string): Promise<SessionClaims | null>
  jwks(): { keys: JWK[] }
  activeKey(): SigningKey
  /** Replaces the key set: `active` signs, all verify (rotation keeps retired keys until their tokens expire). */
  setKeys(active: SigningKey, retired: SigningKey[]): void
  /** Stops the signing thread. */
  close(): Promise<void>
}

const CACHE_MAX = 50_000
/**
 * How far ahead of this replica's clock another replica's may be: its tokens' nbf (its "now") is
 * accepted that much early. exp gets no allowance: a token is never accepted past its lifetime.
 */
const NBF_SKEW_SECONDS = 30
const CLAIMS = ['sub', 'client_id', 'aud', 'jti', 'sid', 'env', 'op', 'provider', 'task'] as const
/** Claims that repeat across tokens (one agent, audience, environment...): one string each in the cache. */
const SHARED = ['iss', 'sub', 'client_id', 'aud', 'env', 'op', 'provider'] as const
const INTERN_MAX = 10_000

// The cache is what grows in a busy broker (up to CACHE_MAX entries). Each entry used to keep the
// whole token (~600 bytes) as its key and fresh copies of every claim string (~1.1 KB an entry in
// all): now the key is the token's SHA-256, repeated claims share one string, and entries of
// expired tokens go first (~0.35 KB an entry).
const cacheKey = (token: string): string => hash('sha256', token, 'base64')

export function createTokenService(opts: {
  issuer: string
  clock: Clock
  active: SigningKey
  retired?: SigningKey[]
  signer?: Signer
}) {
  const { issuer, clock } = opts
  const signer = opts.signer ?? createThreadSigner()
  let active = opts.active
  let byKid = new Map<string, SigningKey>()
  let jwks: { keys: JWK[] } = { keys: [] }
  let jwksKeys: SigningKey[] = []
  /** Retired keys stop verifying (and leave the JWKS) once every token they signed has expired. */
  const current = (k: SigningKey) => k.notAfter === undefined || k.notAfter > clock.now()
  const cache = new Map<string, SessionClaims>()
  const interned = new Map<string, string>()
  const intern = (v: string): string => {
    const hit = interned.get(v)
    if (hit !== undefined) return hit
    if (interned.size >= INTERN_MAX) interned.clear()
    interned.set(v, v)
    return v
  }
  const remember = (key: string, claims: SessionClaims) => {
    const now = clock.now() / 1000
    // Drop expired entries from the old end (a few per insert), then the oldest if still full.
    for (let i = 0; i < 4; i++) {
      const first = cache.entries().next().value
      if (!first || first[1].exp > now) break
      cache.delete(first[0])
    }
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string)
    for (const k of SHARED) claims[k] = intern(claims[k])
    cache.set(key, claims)
  }

  let header = ''
  const importKey = (k: SigningKey) => KeyObject.from(k.privateKey as unknown as webcrypto.CryptoKey)
  let keyObject = importKey(opts.active)
  /** Bumped by every new key set: a verification that started under an older one is not cached. */
  let generation = 0
  const setKeys = (a: SigningKey, retired: SigningKey[]) => {
    generation++
    active = a
    header = Buffer.from(JSON.stringify({ alg: a.alg, kid: a.kid, typ: 'at+jwt' })).toString('base64url')
    signer.forget(keyObject) // the thread need not hold a key that no longer signs
    keyObject = importKey(a)
    byKid = new Map([a, ...retired].map((k) => [k.kid, k]))
    jwksKeys = [a, ...retired]
    jwks = { keys: jwksKeys.map((k) => k.publicJwk) }
    cache.clear()
  }
  setKeys(opts.active, opts.retired ?? [])

  const inLifetime = (c: SessionClaims) => {
    const now = clock.now() / 1000
    return c.nbf <= now + NBF_SKEW_SECONDS && c.exp > now
  }

  const service: TokenService = {
    // Signing is the hot path: the header is encoded once per key, and the signature is made with
    // the key object imported at start, off the event loop (signer.ts).
    sign(c) {
      // Object.assign, not a spread into a literal: V8's slow path, on every grant.
      const claims = JSON.stringify(Object.assign({ iss: issuer }, c))
      const input = `${header}.${Buffer.from(claims).toString('base64url')}`
      return signer.sign(keyObject, active.alg, input).then((sig) => `${input}.${sig}`)
    },
    close: () => signer.close(),
    async verify(token) {
      const key = cacheKey(token)
      const hit = cache.get(key)
      if (hit) return inLifetime(hit) ? hit : null
      const started = generation
      let kid = ''
      try {
        const { payload } = await jwtVerify(
          token,
          async (header) => {
            const key = header.kid === undefined ? undefined : byKid.get(header.kid)
            if (!key || key.alg !== header.alg || !current(key)) throw new Error('unknown key')
            kid = key.kid
            return key.publicKey
          },
          {
            issuer,
            typ: 'at+jwt',
            algorithms: ['EdDSA', 'ES256'],
            currentDate: new Date(clock.now()),
            clockTolerance: NBF_SKEW_SECONDS,
            requiredClaims: ['exp', 'iat', 'nbf', 'jti', 'sub'],
          },
        )
        for (const k of CLAIMS) if (typeof payload[k] !== 'string') return null
        const claims = payload as unknown as SessionClaims
        if (!inLifetime(claims)) return null // exact exp: the tolerance above is for nbf only
        // Keys changed meanwhile (a key dropped at once): the signature counts only if its key stayed.
        if (started !== generation) return byKid.has(kid) ? claims : null
        remember(key, claims)
        return claims
      } catch {
        return null
      }
    },
    jwks: () => ({ keys: jwks.keys.filter((_, i) => current(jwksKeys[i] as SigningKey)) }),
    activeKey: () => active,
    setKeys,
  }
  return service
}
