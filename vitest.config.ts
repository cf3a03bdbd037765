import { availableParallelism } from 'node:os'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Redis, and PostgreSQL (a throwaway cluster unless DATABASE_URL is set) for the postgres provider.
    globalSetup: ['test/support/global-setup.ts', 'test/support/pg-global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most files wait on processes they start (brokers, Redis, PostgreSQL, a browser) more than
    // they compute: two at a time even on a 2-core machine, where the default would be one.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    minWorkers: 1,
  },
})
