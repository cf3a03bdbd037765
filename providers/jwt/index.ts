// The native provider: the session token itself is the credential, with `aud` = this provider's
// audience. Nothing exists outside Airlock, so revocation is the session's own status.
import { opt, strict, text } from '../../src/validation/schema.js'
import type { Provider, ProviderContext } from '../types.js'
import { defineProvider } from '../validate.js'

export interface JwtProviderConfig {
  audience: string
}

export const jwtProvider = defineProvider({
  schema: strict({ audience: opt(text(512)) }, { unknownKey: 'unknown key for a jwt provider' }),
  check: (o, ctx): JwtProviderConfig => ({ audience: o.audience ?? ctx.name }),

  create(config: JwtProviderConfig, ctx: ProviderContext): Provider {
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
})
