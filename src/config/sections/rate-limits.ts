// The `rate_limits` section: how many requests an agent may make per minute.
import type { BuildContext } from '../context.js'
import { DEFAULTS, RateLimitsSchema } from '../schema.js'
import type { AirlockConfig } from '../types.js'

export function buildRateLimits(ctx: BuildContext): AirlockConfig['rateLimits'] {
  const limits = ctx.section(RateLimitsSchema, 'rate_limits') ?? {}
  return { perAgentPerMinute: limits.per_agent_per_minute ?? DEFAULTS.perAgentPerMinute }
}
