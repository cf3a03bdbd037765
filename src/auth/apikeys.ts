// API keys are stored as SHA-256 only. The presented key is hashed, found by its digest, then
// compared in constant time, so neither the key nor the digest leaks through timing.
import { hash, timingSafeEqual } from 'node:crypto'
import type { AirlockConfig } from '../config/types.js'
import type { Principal } from './principal.js'

export const sha256Hex = (s: string): string => hash('sha256', s, 'hex')

export function apiKeyIndex(config: AirlockConfig): (key: string) => Principal | null {
  const index = new Map<string, { digest: Buffer; principal: Principal }>()
  const add = (hex: string | null, principal: Principal) => {
    if (hex) index.set(hex, { digest: Buffer.from(hex, 'hex'), principal })
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
    const hex = sha256Hex(key)
    const hit = index.get(hex)
    return hit && timingSafeEqual(hit.digest, Buffer.from(hex, 'hex')) ? hit.principal : null
  }
}
