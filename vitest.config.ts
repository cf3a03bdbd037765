import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Redis, and PostgreSQL (a throwaway cluster unless DATABASE_URL is set) for the postgres provider.
    globalSetup: ['test/support/global-setup.ts', 'test/support/pg-global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
})
