// The checks of a session request that come before the policy: names that exist in the config and
// a TTL within tokens.max_ttl. Each refusal names what is valid, so a caller can fix it at once.
import { err } from '../errors.js'
import type { Provider } from '../../providers/types.js'
import type { Runtime } from '../runtime.js'
import type { Static } from '@sinclair/typebox'
import type { SessionRequest as SessionRequestSchema } from '../schemas/session.js'
import { unknownName } from '../suggest.js'

/** Returns the named provider, which exists and serves the environment. */
export function checkNames(rt: Runtime, body: Static<typeof SessionRequestSchema>): Provider {
  if (!rt.environments.has(body.environment))
    throw err.invalid(unknownName('environment', body.environment, rt.environments))
  if (!rt.classes.has(body.operation_class))
    throw err.invalid(unknownName('operation class', body.operation_class, rt.classes))
  const provider = rt.providers.get(body.provider)
  if (!provider) throw err.invalid(unknownName('provider', body.provider, rt.providers.keys()))
  if (!provider.supportsEnvironment(body.environment)) {
    const serves = [...rt.environments].filter((e) => provider.supportsEnvironment(e))
    throw err.invalid(
      `provider '${body.provider}' is not configured for environment '${body.environment}'; it serves: ${serves.join(', ') || 'none'}`,
    )
  }
  const max = rt.config.tokens.maxTtlSeconds
  // The route's schema holds the ceiling of startup; a reloaded config may have lowered it.
  if (body.ttl_seconds !== undefined && body.ttl_seconds > max)
    throw err.invalid(
      `body/ttl_seconds is above this broker's tokens.max_ttl of ${max} seconds; ask for ${max} or less`,
    )
  return provider
}
