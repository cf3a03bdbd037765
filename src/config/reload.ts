// What a config reload (SIGHUP) may change. Most of the config is read through the runtime and
// applies at once; the settings below are fixed when the broker starts (the listener, the store,
// the vault, the token issuer and signing key, the audit output), so a reload that changes one is
// refused naming it, rather than silently ignored.
import type { AirlockConfig } from './types.js'

const RESTART =
  'cannot change while the broker runs; restart it to apply (the previous config stays in force)'

/** Problems (path, message) for every restart-only setting that differs; [] when none does. */
export function restartOnlyChanges(
  old: AirlockConfig,
  next: AirlockConfig,
): { path: string; message: string }[] {
  const deferredRef = (c: AirlockConfig) =>
    c.deferredSecrets.find((d) => d.field === 'tokens.signing_key')?.ref ?? null
  const key = (b: Buffer | null) => (b ? b.toString('base64') : null)
  const fixed: [string, (c: AirlockConfig) => unknown][] = [
    ['server.host', (c) => c.server.host],
    ['server.port', (c) => c.server.port],
    ['server.public_url', (c) => c.server.publicUrl],
    ['server.body_limit_bytes', (c) => c.server.bodyLimitBytes],
    // The /metrics route and its listener are set up at start.
    ['server.metrics', (c) => JSON.stringify(c.server.metrics)],
    ['store.redis_url', (c) => JSON.stringify(c.store.redis)],
    ['store.replica_acks', (c) => c.store.replicaAcks],
    ['store.replica_ack_timeout', (c) => c.store.replicaAckTimeoutMs],
    ['store.key_prefix', (c) => c.store.keyPrefix],
    ['vault.backend', (c) => c.vault.backend],
    ['vault.file', (c) => c.vault.file],
    ['vault.master_key', (c) => key(c.vault.masterKey)],
    ['vault.previous_master_key', (c) => key(c.vault.previousMasterKey ?? null)],
    ['tokens.algorithm', (c) => c.tokens.algorithm],
    ['tokens.signing_key', (c) => deferredRef(c) ?? c.tokens.signingKeyPem],
    ['audit.stdout', (c) => c.audit.stdout],
    ['audit.checkpoint_every', (c) => c.audit.checkpointEveryMs],
  ]
  return fixed.filter(([, get]) => get(old) !== get(next)).map(([path]) => ({ path, message: RESTART }))
}

/** Agents, providers and environments the old config had and the new one does not. */
export function removedByReload(old: AirlockConfig, next: AirlockConfig) {
  const gone = <T>(a: T[], b: T[], name: (x: T) => string) => {
    const kept = new Set(b.map(name))
    return new Set(a.map(name).filter((n) => !kept.has(n)))
  }
  return {
    agents: gone(old.agents, next.agents, (a) => a.id),
    providers: gone(old.providers, next.providers, (p) => p.name),
    environments: gone(old.environments, next.environments, (e) => e.name),
  }
}

export type Removed = ReturnType<typeof removedByReload>

/** Why a session cannot outlive this reload, or null when nothing it depends on was removed. */
export function removalReason(
  removed: Removed,
  s: { agent: string; provider: string; environment: string },
): string | null {
  if (removed.agents.has(s.agent)) return `agent ${s.agent} was removed from the config`
  if (removed.providers.has(s.provider)) return `provider ${s.provider} was removed from the config`
  if (removed.environments.has(s.environment))
    return `environment ${s.environment} was removed from the config`
  return null
}
