// API keys are stored as SHA-256 only, and a presented key is only ever compared as its digest:
// the lookup's timing can depend on the digest, which says nothing usable about any key (finding
// a key from a digest is a preimage attack), so no comparison ever touches the key itself.
import { hash } from 'node:crypto'
import type { AirlockConfig } from '../config/types.js'
import type { Principal } from './principal.js'

export const sha256Hex = (s: string): string => hash('sha256', s, 'hex')

export function apiKeyIndex(config: AirlockConfig): (key: string) => Principal | null {
  const index = new Map<string, Principal>()
  const add = (hex: string | null, principal: Principal) => {
    if (hex) index.set(hex, principal) // lowercase hex: the config schema's pattern
  }
  for (const a of config.agents) add(a.apiKeySha256, { kind: 'agent', id: a.id, roles: ['agent'], agent: a })
  for (const h of config.humans) add(h.apiKeySha256, { kind: 'human', id: h.id, roles: h.roles })
  for (const r of config.resourceServers) {
    add(r.apiKeySha256, {
      kind: 'resource_server',
      id: r.id,
      roles: ['resource_server'],
      audiences: r.audiences,
    })
  }
  return (key) => {
    return index.get(sha256Hex(key)) ?? null
  }
}
