// Per-component cost of the issue path, in-process (no HTTP): where the microseconds go.
import { performance } from 'node:perf_hooks'
import { parseConfig } from '../src/config/load.js'
import { createLogger } from '../src/log.js'
import { buildBroker } from '../src/broker.js'
import { generateSigningKey } from '../src/tokens/keys.js'
import { deletePrefix, newKeys, sessionBody, testConfigYaml } from '../test/support/fixtures.js'

const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'
const prefix = `airlock-bench-micro:${Date.now()}:`
const keys = newKeys()
const config = parseConfig(
  testConfigYaml(prefix, keys).replace('audit: { stdout: true }', 'audit: { stdout: false }'),
  {
    baseDir: process.cwd(),
    env: { REDIS_URL: url },
  },
)
const broker = await buildBroker(
  {
    config,
    logger: createLogger({ level: 'warn' }),
  },
  {
    sweeper: false,
    signingKey: await generateSigningKey('EdDSA'),
  },
)
const time = async (name: string, n: number, conc: number, f: () => Promise<unknown>) => {
  for (let i = 0; i < 200; i++) await f()
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  for (let i = 0; i < n / conc; i++) await Promise.all(Array.from({ length: conc }, f))
  const wall = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  console.log(
    `${name.padEnd(28)} ${((wall * 1000) / n).toFixed(1).padStart(7)} us wall/op  ${((cpu.user + cpu.system) / n).toFixed(1).padStart(7)} us cpu/op`,
  )
}
const auth = { authorization: `Bearer ${keys['build-bot']}` }
const body = sessionBody()
const app = broker.app
await time('inject POST /v1/sessions', 4000, 50, () =>
  app.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: body }),
)
const r = await app.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: body })
const token = r.json().grant.token as string
const rs = { authorization: `Bearer ${keys['internal-api']}` }
await time('inject POST /v1/introspect', 4000, 50, () =>
  app.inject({ method: 'POST', url: '/v1/introspect', headers: rs, payload: { token } }),
)
await time('inject GET /healthz', 4000, 50, () => app.inject({ method: 'GET', url: '/healthz' }))
const b = app.broker
const principal = (await b.runtime().authenticate(auth.authorization))!
if (principal.kind !== 'agent') throw new Error('expected an agent')
const { decide } = await import('../src/policy/decide.js')
const { newSessionId } = await import('../src/ids.js')
await time('sessions.request()', 4000, 50, () => b.sessions.request(principal, body))
await time('authenticate()', 4000, 50, () => b.runtime().authenticate(auth.authorization))
await time('decide()', 20000, 50, async () =>
  decide(b.runtime().policy, {
    agent: 'build-bot',
    environment: 'staging',
    operationClass: 'read',
    provider: 'internal-api',
    onBehalfOf: null,
  }),
)
const rec = (await b.store.getSession(r.json().session.id as string))!
await time('store.createSession()', 4000, 50, () =>
  b.store.createSession({ ...rec, id: newSessionId() }, 3600_000, Date.now()),
)
await time('store.getSession()', 4000, 50, () => b.store.getSession(rec.id))
await time('audit.record()', 4000, 50, () =>
  b.audit.record({
    type: 'session.issued',
    actor: 'build-bot',
    session_id: rec.id,
    details: {
      agent: 'build-bot',
      environment: 'staging',
      operation_class: 'read',
      provider: 'internal-api',
      task_id: 'JIRA-1',
      status: 'active',
      decision: 'allowed by x',
      justification: null,
      ttl_seconds: 900,
      expires_at: new Date().toISOString(),
      jti: 'abc',
    },
  }),
)
const claims = {
  sub: 'build-bot',
  client_id: 'build-bot',
  aud: 'x',
  iat: 1,
  nbf: 1,
  exp: 2e9,
  jti: 'j',
  sid: rec.id,
  env: 'staging',
  op: 'read',
  provider: 'internal-api',
  task: 'T',
}
await time('tokens.sign()', 4000, 50, () => b.tokens.sign(claims))
await time('tokens.verify() (cached)', 20000, 50, () => b.tokens.verify(token))
await time('store.introspect()', 4000, 50, () =>
  b.store.introspect(
    rec.id,
    { agent: 'build-bot', environment: 'staging', provider: 'internal-api', task_id: 'JIRA-123' },
    Date.now(),
  ),
)
await broker.close()
await deletePrefix(url, prefix)
