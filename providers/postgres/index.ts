// PostgreSQL: a login role per session, confined to one environment's database and one operation
// class's group, gone when the session ends.
import { defineProvider } from '../validate.js'
import { checkPostgres } from './config.js'
import { PostgresSchema } from './schema.js'
import { createPostgresProvider } from './provider.js'

export const postgresProvider = defineProvider({
  schema: PostgresSchema,
  check: checkPostgres,
  create: createPostgresProvider,
})
