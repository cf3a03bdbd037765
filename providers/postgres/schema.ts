// The postgres provider's section of the config as the YAML writes it (its checks: config.ts).
import { FormatRegistry, Type } from '@sinclair/typebox'
import {
  SecretRef,
  int,
  list,
  map,
  needed,
  oneOf,
  opt,
  pattern,
  strict,
} from '../../src/validation/schema.js'
import { fitsIdentifier } from './sql.js'

/** What a class's group may do by default (docs/providers.md, "postgres"). */
export const PRIVILEGE_LEVELS = ['read', 'write', 'destructive', 'none'] as const

const IDENT_HINT = 'expected a PostgreSQL name of 1-63 bytes'
const MAX_STATEMENT = 10_000

// PostgreSQL truncates names at 63 bytes (not characters), so longer ones would silently alias.
FormatRegistry.Set('postgres-name', fitsIdentifier)
const PgName = Type.String({ format: 'postgres-name', errorMessage: IDENT_HINT })

const Environment = strict(
  {
    connection: needed(SecretRef, 'a secret reference to a postgres:// URL'),
    database: needed(PgName, IDENT_HINT),
    schemas: opt(list(PgName, 1)),
    owner: opt(PgName),
    /** A host name, an IP address (v6 without brackets) or a socket directory. */
    host: opt(
      Type.String({
        maxLength: 255,
        pattern: '^(/[^\\s@?#\\u0000]*|[^\\s@?#\\u0000/]+)$',
        errorMessage: 'expected a host name, an IP address or a socket directory',
      }),
    ),
    port: opt(int(1, 65_535)),
  },
  { errorMessage: 'expected {connection, database}', unknownKey: 'unknown key for a postgres environment' },
)

const OperationClass = strict(
  {
    privileges: opt(oneOf(PRIVILEGE_LEVELS, `expected one of ${PRIVILEGE_LEVELS.join(', ')}`)),
    grant_statements: opt(
      list(
        Type.String({
          maxLength: MAX_STATEMENT,
          pattern: '^[^\\u0000]*\\S[^\\u0000]*$',
          errorMessage: `expected a SQL statement of at most ${MAX_STATEMENT} characters`,
        }),
        1,
        'expected a list of at least 1 SQL statement',
      ),
    ),
  },
  {
    errorMessage: 'expected {privileges} or {grant_statements}',
    unknownKey: 'unknown key for a postgres operation class',
  },
)

export const PostgresSchema = strict(
  {
    environments: needed(
      map(Environment, 'expected a mapping of environment names to {connection, database}'),
      'environment name: {connection, database}',
    ),
    operation_classes: opt(map(OperationClass, 'expected a mapping of operation class names', 0)),
    on_revoke: opt(
      oneOf(
        ['reassign', 'drop'],
        'expected reassign (hand what a session created to the owner role) or drop',
      ),
    ),
    connection_limit: opt(int(1, 10_000)),
    deployment_id: opt(
      pattern('^[\\x21-\\x7e]{1,128}$', 'expected 1-128 printable characters without spaces'),
    ),
  },
  { unknownKey: 'unknown key for a postgres provider' },
)
