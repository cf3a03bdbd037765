// The `tokens` section: the signing algorithm and key, token lifetimes and key rotation.
import { formatDuration, parseDuration } from '../../validation/duration.js'
import type { BuildContext } from '../context.js'
import { DEFAULTS, TokensSchema } from '../schema.js'
import { resolveRef } from '../secrets.js'
import type { TokensConfig } from '../types.js'

const MAX_TOKEN_TTL_MS = 12 * 3_600_000

export function buildTokens(ctx: BuildContext): TokensConfig {
  const { report } = ctx
  const tokens = ctx.section(TokensSchema, 'tokens') ?? {}
  const maxTtl = ctx.ttlSeconds('tokens.max_ttl', tokens.max_ttl ?? DEFAULTS.maxTtl)
  // Without an explicit default_ttl, a short max_ttl lowers the default instead of failing.
  const defaultTtl =
    tokens.default_ttl === undefined
      ? Math.min(parseDuration(DEFAULTS.defaultTtl) / 1000, maxTtl)
      : ctx.ttlSeconds('tokens.default_ttl', tokens.default_ttl)
  if (maxTtl * 1000 > MAX_TOKEN_TTL_MS) report('tokens.max_ttl', 'must be at most 12h')
  if (defaultTtl > maxTtl)
    report('tokens.default_ttl', `must not exceed tokens.max_ttl (${formatDuration(maxTtl * 1000)})`)
  let signingKeyPem: string | null = null
  if (tokens.signing_key !== undefined) {
    const ref = tokens.signing_key
    signingKeyPem = ctx.deferrable('tokens.signing_key', ref, () => resolveRef(ref, ctx.opts))
    if (signingKeyPem !== null && !signingKeyPem.includes('PRIVATE KEY'))
      report('tokens.signing_key', 'expected a PEM private key (-----BEGIN PRIVATE KEY-----)')
  }
  return {
    algorithm: tokens.algorithm ?? DEFAULTS.algorithm,
    defaultTtlSeconds: defaultTtl,
    maxTtlSeconds: maxTtl,
    signingKeyPem,
    rotateEveryMs: ctx.duration('tokens.rotate_every', tokens.rotate_every ?? DEFAULTS.rotateEvery),
  }
}
