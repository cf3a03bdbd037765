// The native provider: the session token itself is the credential, with `aud` = this provider's
// audience. Nothing exists outside Airlock, so revocation is the session's own status.
import type { Provider, ProviderContext, ProviderFns } from '../types.js'
import { unknownKeys } from '../validate.js'

export interface JwtProviderConfig {
  audience: string
}

export const jwtProvider: ProviderFns<JwtProviderConfig> = {
  validate(raw, ctx) {
    const problems: { path: string; message: string }[] = []
    unknownKeys(raw, ['audience'], '', 'a jwt provider', (path, message) => problems.push({ path, message }))
    const audience = raw['audience'] ?? ctx.name
    if (typeof audience !== 'string' || audience.length === 0 || audience.length > 512) {
      problems.push({ path: 'audience', message: 'expected a non-empty string of at most 512 characters' })
    }
    return problems.length > 0
      ? { ok: false, problems }
      : { ok: true, config: { audience: String(audience) } }
  },

  create(config, ctx: ProviderContext): Provider {
    return {
      name: ctx.name,
      type: 'jwt',
      audience: config.audience,
      external: false,
      supportsEnvironment: () => true,
      setup: async () => {},
      issue: async () => ({ credentials: {}, handle: {} }),
      revoke: async () => {},
      reap: async () => 0,
      health: async () => ({ ok: true, error: null }),
      secretRotated: async () => {},
      close: async () => {},
    }
  },
}
