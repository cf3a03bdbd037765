import type { Clock } from '../clock.js'
import type { AirlockConfig } from '../config/types.js'
import { apiKeyIndex } from './apikeys.js'
import { oidcVerifier } from './oidc.js'
import type { Principal } from './principal.js'

export type Authenticator = (authorization: string | undefined) => Promise<Principal | null>

const JWT_SHAPE = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/

/** Bearer API keys for everyone; OIDC workload JWTs for agents. */
export function createAuthenticator(config: AirlockConfig, clock: Clock): Authenticator {
  const byKey = apiKeyIndex(config)
  const byOidc = oidcVerifier(config, clock)
  return async (authorization) => {
    if (!authorization || authorization.length > 8192) return null
    const m = /^Bearer +(\S+)$/i.exec(authorization)
    if (!m) return null
    const credential = m[1] as string
    return byKey(credential) ?? (JWT_SHAPE.test(credential) ? byOidc(credential) : null)
  }
}
