// PostgreSQL for the whole run. `pgUrl`: DATABASE_URL when set, else a throwaway cluster.
// `pgScramUrl`: always a throwaway cluster with scram-sha-256, for tests that need passwords and
// VALID UNTIL enforced (a trust-auth server accepts any password). One cluster serves both when
// DATABASE_URL is unset. Tests get superuser URLs and create their own databases and roles.
import { randomBytes } from 'node:crypto'
import type { TestProject } from 'vitest/node'
import { embeddedPostgres, type PgCluster } from './postgres.js'

let own: PgCluster | null = null

export async function setup(project: TestProject) {
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
