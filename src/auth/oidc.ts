// Workload identity for agents: an OIDC JWT from a configured issuer, verified against the
// issuer's JWKS and matched on issuer, audience and subject.
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTVerifyGetKey } from 'jose'
import type { Clock } from '../clock.js'
import type { AgentConfig, AirlockConfig } from '../config/types.js'
import { err } from '../errors.js'
import type { Principal } from './principal.js'

interface Issuer {
  bindings: AgentConfig[]
  algorithms: string[]
  jwks: Promise<JWTVerifyGetKey> | null
  jwksUri: string | null
}

const CACHE_MAX = 10_000

/** The issuer's discovery or key set could not be fetched: a 503, not a bad credential. */
class IssuerUnreachable extends Error {}

// What a key set says about the token itself (no key for its kid); anything else is the fetch.
const TOKEN_FAULTS = new Set(['ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS'])

async function discover(issuer: string): Promise<string> {
  const res = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, {
    signal: AbortSignal.timeout(3000),
  })
  if (!res.ok) throw new Error(`discovery answered ${res.status}`)
  const doc = (await res.json()) as { jwks_uri?: unknown }
  if (typeof doc.jwks_uri !== 'string') throw new Error('discovery document has no jwks_uri')
  return doc.jwks_uri
}

/** Allowed clock skew for `iat` (a token minted a moment "in the future" by a fast clock). */
const IAT_SKEW_SECONDS = 60

/**
 * A stolen workload token is only worth as much as its lifetime: `exp - iat` stays within the
 * binding's max_lifetime, and `iat` is not in the future (which would stretch that window).
 * jose has already checked that both are numbers and that the token has not expired.
 */
function shortLived(payload: { iat?: number; exp?: number }, maxSeconds: number, nowMs: number): boolean {
  const { iat, exp } = payload
  if (typeof iat !== 'number' || typeof exp !== 'number') return false
  return exp - iat <= maxSeconds && iat <= nowMs / 1000 + IAT_SKEW_SECONDS
}

export function oidcVerifier(
  config: AirlockConfig,
  clock: Clock,
): (token: string) => Promise<Principal | null> {
  const issuers = new Map<string, Issuer>()
  for (const a of config.agents) {
    if (!a.oidc) continue
    const i = issuers.get(a.oidc.issuer) ?? {
      bindings: [],
      algorithms: [],
      jwks: null,
      jwksUri: a.oidc.jwksUri,
    }
    i.bindings.push(a)
    for (const alg of a.oidc.algorithms) if (!i.algorithms.includes(alg)) i.algorithms.push(alg)
    issuers.set(a.oidc.issuer, i)
  }
  const cache = new Map<string, { principal: Principal; exp: number; nbf: number }>()

  const keysFor = (iss: string, i: Issuer): Promise<JWTVerifyGetKey> => {
    // A failed discovery is retried on the next request rather than remembered.
    i.jwks ??= (i.jwksUri ? Promise.resolve(i.jwksUri) : discover(iss)).then(
      (uri) => {
        const remote = createRemoteJWKSet(new URL(uri), { timeoutDuration: 3000 })
        const getKey: JWTVerifyGetKey = async (header, token) => {
          try {
            return await remote(header, token)
          } catch (e) {
            if (TOKEN_FAULTS.has((e as { code?: string }).code ?? '')) throw e
            throw new IssuerUnreachable((e as Error).message, { cause: e })
          }
        }
        return getKey
      },
      (e: unknown) => {
        i.jwks = null
        throw new IssuerUnreachable((e as Error).message, { cause: e })
      },
    )
    return i.jwks
  }

  return async (token) => {
    const hit = cache.get(token)
    if (hit) return hit.exp * 1000 > clock.now() && hit.nbf * 1000 <= clock.now() ? hit.principal : null
    let iss: string | undefined
    try {
      iss = decodeJwt(token).iss
    } catch {
      return null
    }
    const i = iss === undefined ? undefined : issuers.get(iss)
    if (!i || iss === undefined) return null
    try {
      const { payload } = await jwtVerify(token, await keysFor(iss, i), {
        issuer: iss,
        audience: i.bindings.map((b) => b.oidc?.audience ?? ''),
        algorithms: i.algorithms,
        currentDate: new Date(clock.now()),
        requiredClaims: ['exp', 'iat', 'sub'],
      })
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud]
      const agent = i.bindings.find(
        (b) => b.oidc !== null && b.oidc.subject === payload.sub && aud.includes(b.oidc.audience),
      )
      if (!agent || !shortLived(payload, agent.oidc?.maxLifetimeSeconds ?? 0, clock.now())) return null
      const principal: Principal = { kind: 'agent', id: agent.id, roles: ['agent'], agent }
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string)
      cache.set(token, {
        principal,
        exp: payload.exp as number,
        nbf: typeof payload.nbf === 'number' ? payload.nbf : 0,
      })
      return principal
    } catch (e) {
      if (e instanceof IssuerUnreachable)
        throw err.unavailable(`the OIDC issuer ${iss} cannot be reached (${e.message}); try again`, e)
      return null
    }
  }
}
