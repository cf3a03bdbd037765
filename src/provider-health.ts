// Each provider's health and last error, as GET /v1/providers and the console show them.
import type { Runtime } from './runtime.js'
import { scrub } from './scrub.js'

export interface ProviderHealth {
  name: string
  type: string
  audience: string
  ok: boolean
  error: string | null
}

export async function providerHealth(rt: Runtime): Promise<ProviderHealth[]> {
  const list = [...rt.providers.values()]
  // Provider errors may quote what they were given: scrubbed before anyone sees them.
  const health = await Promise.all(
    list.map((p) =>
      p.health().then(
        (h) => ({ ok: h.ok, error: h.error === null ? null : scrub(h.error) }),
        (e: unknown) => ({ ok: false, error: scrub((e as Error).message) }),
      ),
    ),
  )
  return list.map((p, i) => ({
    name: p.name,
    type: p.type,
    audience: p.audience,
    ...(health[i] as { ok: boolean; error: string | null }),
  }))
}
