// The postgres provider's config section: the example loads, and every problem is
// reported with its exact path (what `airlock config check` prints).
import { afterAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { parseConfig } from '../../../src/config/load.js'
import { EXAMPLE, exampleLoadOptions, loadProblems } from '../../support/example-config.js'

const { opts: OPTS, cleanup } = exampleLoadOptions('pgconfig')
afterAll(cleanup)

/** The example without aws, github and the gateways (their own tests); app-db is providers[1]. */
function doc(): Record<string, any> {
  const d = parse(EXAMPLE) as Record<string, any>
  d['providers'] = (d['providers'] as { type: string }[]).filter(
    (p) => p.type !== 'aws' && p.type !== 'github' && p.type !== 'gateway',
  )
  return d
}
const appDb = (d: Record<string, any>) => d['providers'][1] as Record<string, any>

function problems(edit: (d: Record<string, any>) => void) {
  const d = doc()
  edit(d)
  return loadProblems(stringify(d), OPTS)
}

describe('the example', () => {
  it('loads the app-db section with its defaults', () => {
    const c = parseConfig(stringify(doc()), OPTS)
    const env = (connection: string, database: string) => ({
      connection,
      database,
      schemas: ['public'],
      owner: null,
      host: null,
      port: null,
    })
    expect(c.providers[1]).toEqual({
      name: 'app-db',
      type: 'postgres',
      options: {
        environments: {
          staging: env('vault:pg/staging-admin', 'app_staging'),
          prod: env('vault:pg/prod-admin', 'app_prod'),
        },
        classes: {
          read: { privileges: 'read', grantStatements: null },
          write: { privileges: 'write', grantStatements: null },
          destructive: { privileges: 'destructive', grantStatements: null },
        },
        onRevoke: 'reassign',
        connectionLimit: 10,
        deploymentId: null,
      },
    })
  })
})

const P = 'providers[1]'
const CASES: [string, (d: Record<string, any>) => void, string, string][] = [
  [
    'unknown key',
    (d) => (appDb(d)['conection'] = 'x'),
    `${P}.conection`,
    'unknown key for a postgres provider',
  ],
  ['no environments', (d) => delete appDb(d)['environments'], `${P}.environments`, 'required'],
  [
    'environments as a list',
    (d) => (appDb(d)['environments'] = ['staging']),
    `${P}.environments`,
    'expected a mapping',
  ],
  [
    'unknown environment',
    (d) => (appDb(d)['environments']['qa'] = { connection: 'env:X', database: 'qa' }),
    `${P}.environments.qa`,
    "unknown environment 'qa'",
  ],
  [
    'literal connection string',
    (d) => (appDb(d)['environments']['staging']['connection'] = 'postgres://admin:pw@db/app'),
    `${P}.environments.staging.connection`,
    'must be a secret reference (env:, file: or vault:), not a literal',
  ],
  [
    'missing connection',
    (d) => delete appDb(d)['environments']['staging']['connection'],
    `${P}.environments.staging.connection`,
    'required',
  ],
  [
    'missing database',
    (d) => delete appDb(d)['environments']['prod']['database'],
    `${P}.environments.prod.database`,
    'required',
  ],
  [
    'database name over 63 bytes',
    (d) => (appDb(d)['environments']['prod']['database'] = 'é'.repeat(32)),
    `${P}.environments.prod.database`,
    'expected a PostgreSQL name of 1-63 bytes',
  ],
  [
    'unknown environment key',
    (d) => (appDb(d)['environments']['staging']['password'] = 'x'),
    `${P}.environments.staging.password`,
    'unknown key for a postgres environment',
  ],
  [
    'empty schema list',
    (d) => (appDb(d)['environments']['staging']['schemas'] = []),
    `${P}.environments.staging.schemas`,
    'expected a list of at least 1',
  ],
  [
    'duplicate schema',
    (d) => (appDb(d)['environments']['staging']['schemas'] = ['public', 'public']),
    `${P}.environments.staging.schemas[1]`,
    "duplicate schema 'public'",
  ],
  [
    'owner name as a number',
    (d) => (appDb(d)['environments']['staging']['owner'] = 7),
    `${P}.environments.staging.owner`,
    'expected a PostgreSQL name',
  ],
  [
    'port out of range',
    (d) => (appDb(d)['environments']['staging']['port'] = 70000),
    `${P}.environments.staging.port`,
    'expected an integer from 1 to 65535',
  ],
  [
    'host with a path',
    (d) => (appDb(d)['environments']['staging']['host'] = 'db.example/x'),
    `${P}.environments.staging.host`,
    'expected a host name',
  ],
  [
    'two environments in one database',
    (d) => (appDb(d)['environments']['prod'] = { ...appDb(d)['environments']['staging'] }),
    `${P}.environments.prod.database`,
    'same connection and database as environments.staging',
  ],
  [
    'unknown operation class',
    (d) => (appDb(d)['operation_classes'] = { admin: { privileges: 'read' } }),
    `${P}.operation_classes.admin`,
    "unknown operation class 'admin'",
  ],
  [
    'unknown privilege level',
    (d) => (appDb(d)['operation_classes'] = { read: { privileges: 'select' } }),
    `${P}.operation_classes.read.privileges`,
    'expected one of read, write, destructive, none',
  ],
  [
    'privileges and grant_statements together',
    (d) => (appDb(d)['operation_classes'] = { read: { privileges: 'read', grant_statements: ['SELECT 1'] } }),
    `${P}.operation_classes.read`,
    'expected exactly one of privileges and grant_statements',
  ],
  [
    'unknown placeholder',
    (d) =>
      (appDb(d)['operation_classes'] = {
        read: {
          grant_statements: ['GRANT CONNECT ON DATABASE {{database}} TO {{group}}', 'GRANT x TO {{name}}'],
        },
      }),
    `${P}.operation_classes.read.grant_statements[1]`,
    'unknown placeholder {{name}} (known: {{group}}, {{database}}, {{schemas}}, {{owner}})',
  ],
  [
    'a class without default privileges',
    (d) => d['operation_classes'].push({ name: 'deploy' }),
    `${P}.operation_classes`,
    "operation class 'deploy' has no default privileges: set operation_classes.deploy.privileges",
  ],
  [
    'destructive privileges on a class not marked destructive',
    (d) => {
      d['operation_classes'].push({ name: 'cleanup' })
      appDb(d)['operation_classes'] = { cleanup: { privileges: 'destructive' } }
    },
    `${P}.operation_classes.cleanup.privileges`,
    'only a class marked destructive: true may have destructive privileges (it needs two approvals)',
  ],
  [
    'write given destructive privileges',
    (d) => (appDb(d)['operation_classes'] = { write: { privileges: 'destructive' } }),
    `${P}.operation_classes.write.privileges`,
    'only a class marked destructive: true may have destructive privileges',
  ],
  [
    'a class named destructive that is not marked destructive: true gets no default',
    (d) => delete d['operation_classes'][2]['destructive'],
    `${P}.operation_classes`,
    "operation class 'destructive' is not marked destructive: true, so it gets no default privileges",
  ],
  ['bad on_revoke', (d) => (appDb(d)['on_revoke'] = 'keep'), `${P}.on_revoke`, 'expected reassign'],
  [
    'connection limit 0',
    (d) => (appDb(d)['connection_limit'] = 0),
    `${P}.connection_limit`,
    'expected an integer from 1 to 10000',
  ],
  [
    'deployment id with a space',
    (d) => (appDb(d)['deployment_id'] = 'a b'),
    `${P}.deployment_id`,
    'expected 1-128 printable characters',
  ],
]

describe('bad postgres sections', () => {
  it.each(CASES)('%s', (_name, edit, path, fragment) => {
    expect(problems(edit)).toEqual([{ path, message: expect.stringContaining(fragment) }])
  })

  it('reports several problems at once and never echoes a literal connection string', () => {
    const found = problems((d) => {
      appDb(d)['environments']['staging']['connection'] = 'postgres://admin:CANARY-pg-1@db/app'
      appDb(d)['environments']['prod']['port'] = 'x'
      appDb(d)['on_revoke'] = 'keep'
    })
    expect(found.map((p) => p.path).sort()).toEqual([
      `${P}.environments.prod.port`,
      `${P}.environments.staging.connection`,
      `${P}.on_revoke`,
    ])
    expect(JSON.stringify(found)).not.toContain('CANARY')
  })

  it('destructive privileges are for classes marked destructive: true, under any name', () => {
    const d = doc()
    d['operation_classes'].push({ name: 'purge', destructive: true }, { name: 'cleanup' })
    // A class named destructive that is not marked destructive: true may still be given less.
    delete d['operation_classes'][2]['destructive']
    appDb(d)['operation_classes'] = {
      purge: { privileges: 'destructive' },
      cleanup: { privileges: 'write' },
      destructive: { privileges: 'read' },
    }
    const c = parseConfig(stringify(d), OPTS)
    expect((c.providers[1]?.options as { classes: object }).classes).toMatchObject({
      purge: { privileges: 'destructive' },
      cleanup: { privileges: 'write' },
      destructive: { privileges: 'read' },
      read: { privileges: 'read' },
    })
  })

  it('a class set to none or given grant_statements needs no default', () => {
    const d = doc()
    d['operation_classes'].push({ name: 'deploy' }, { name: 'audit' })
    appDb(d)['operation_classes'] = {
      deploy: { privileges: 'none' },
      audit: { grant_statements: ['GRANT CONNECT ON DATABASE {{database}} TO {{group}}'] },
    }
    const c = parseConfig(stringify(d), OPTS)
    expect((c.providers[1]?.options as { classes: object }).classes).toMatchObject({
      deploy: { privileges: 'none', grantStatements: null },
      audit: { privileges: null, grantStatements: ['GRANT CONNECT ON DATABASE {{database}} TO {{group}}'] },
    })
  })
})
