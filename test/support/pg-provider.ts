// Builds a postgres provider directly (no broker), for tests of its grants and roles (and the
// benchmark, so no vitest import here). Secrets come
// from an in-memory map standing in for the vault (`vault:` references), so rotation can be tested.
import { randomBytes } from 'node:crypto'
import { postgresProvider } from '../../providers/postgres/index.js'
import type { IssueInput, Provider, ProviderState, SecretSource } from '../../providers/types.js'
import { memoryProviderState } from '../../src/store/provider-state.js'
import { ConfigError } from '../../src/errors.js'
import { createLogger } from '../../src/log.js'
import { newJti, newSessionId } from '../../src/ids.js'
import { Writable } from 'node:stream'

export class MapSecrets implements SecretSource {
  resolved = 0
  constructor(public values: Map<string, string>) {}
  async resolve(ref: string): Promise<string> {
    this.resolved++
    const v = this.values.get(ref)
    if (v === undefined) throw new Error(`${ref} is not set`)
    return v
  }
}

export function buildProvider(
  section: Record<string, unknown>,
  o: {
    secrets: SecretSource
    logs?: Writable
    name?: string
    environments?: string[]
    /** The broker's store under this provider's keys (default: in memory). */
    state?: ProviderState
  },
): Provider {
  const ctx = {
    name: o.name ?? 'app-db',
    environments: o.environments ?? ['staging', 'prod'],
    operationClasses: ['read', 'write', 'destructive'],
    destructiveClasses: ['destructive'],
  }
  const v = postgresProvider.validate(section, ctx)
  if (!v.ok) throw new ConfigError(v.problems)
  return postgresProvider.create(v.config, {
    name: ctx.name,
    instanceId: 'not-used-with-deployment-id',
    secrets: o.secrets,
    clock: { now: () => Date.now() },
    state: o.state ?? memoryProviderState()(ctx.name),
    onMassRevocation: async () => [],
    log: createLogger({
      level: 'info',
      destination: o.logs ?? new Writable({ write: (_c, _e, cb) => cb() }),
    }),
  })
}

export const suffix = (): string => randomBytes(4).toString('hex')

export const issueInput = (over: Partial<IssueInput> = {}): IssueInput => ({
  sessionId: newSessionId(),
  attempt: newJti(),
  agent: 'build-bot',
  taskId: 'JIRA-1',
  environment: 'staging',
  operationClass: 'read',
  ttlSeconds: 600,
  expiresAt: Date.now() + 600_000,
  ...over,
})

export interface PgCredentials {
  host: string
  port: number
  database: string
  username: string
  password: string
  url: string
}
