// PostgreSQL: a login role per session, confined to one environment's database and one operation
// class's group, gone when the session ends.
import type { ProviderFns } from '../types.js'
import { validatePostgres, type PostgresConfig } from './config.js'
import { createPostgresProvider } from './provider.js'

export const postgresProvider: ProviderFns<PostgresConfig> = {
  validate: validatePostgres,
  create: createPostgresProvider,
}
