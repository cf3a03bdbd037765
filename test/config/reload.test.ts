// A config reload in process (broker.reload, what SIGHUP calls): once the new config is in force,
// what it removed is revoked whatever else fails, reloads apply in the order they were asked, and
// a request whose body arrives after a reload is judged under the new config.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { sha256Hex } from '../../src/auth/apikeys.js'
import { parseConfig } from '../../src/config/load.js'
import { client, newKeys, sessionBody, testBroker, testConfigYaml, type TestBroker } from '../helper.js'
import { redisServer, type RedisServer } from '../support/redis-server.js'

const keys = { ...newKeys(), 'temp-bot': `ak_temp_${randomBytes(18).toString('base64url')}` }
const TEMP_BOT = `  - { id: temp-bot, owner: alice, api_key_sha256: ${sha256Hex(keys['temp-bot'])} }`

describe('a reload whose config.reloaded event cannot be written', () => {
  let redis: RedisServer
  let t: TestBroker
  let admin: Redis
  beforeAll(async () => {
    redis = await redisServer()
    admin = new Redis(redis.url)
    t = await testBroker({ redisUrl: redis.url, keys, yaml: { extraAgents: TEMP_BOT } })
  })
  afterAll(async () => {
    admin.disconnect()
    await t.broker.close()
    await redis.stop()
  })

  it('still revokes the sessions of a removed agent (retried until the store takes writes)', async () => {
    const api = client(t.app, keys)
    const { grant } = await api.issue('temp-bot')
    const introspect = () => api.post('/v1/introspect', 'internal-api', { token: grant.token })
    expect((await introspect()).body.active).toBe(true)

    // The store refuses writes (reads still answer): the reload's audit event cannot be written.
    await admin.config('SET', 'min-replicas-to-write', '1')
    const without = parseConfig(testConfigYaml(t.prefix, keys), {
      baseDir: '.',
      env: { REDIS_URL: redis.url },
    })
    // The new config is in force: the reload does not report that the old one stayed.
    await t.broker.reload(without)
    expect(t.broker.runtime().agents.has('temp-bot')).toBe(false)
    expect((await api.get('/v1/whoami', 'temp-bot')).status).toBe(401)
    expect(t.logs.lines.some((l) => l.includes('config.reloaded event could not be written'))).toBe(true)

    await admin.config('SET', 'min-replicas-to-write', '0')
    await vi.waitFor(async () => expect((await introspect()).body).toEqual({ active: false }), {
      timeout: 12_000,
      interval: 200,
    })
  }, 20_000)

  it('still revokes the sessions a tightened policy refuses (retried until the store takes writes)', async () => {
    const api = client(t.app, keys)
    const { grant } = await api.issue('build-bot', { operation_class: 'write' })
    const introspect = () => api.post('/v1/introspect', 'internal-api', { token: grant.token })
    expect((await introspect()).body.active).toBe(true)

    const logged = t.logs.lines.length
    await admin.config('SET', 'min-replicas-to-write', '1')
    // build-bot may no longer write in staging.
    const tightened = testConfigYaml(t.prefix, keys).replace(
      'environments: [staging]\n    operation_classes: [read, write]',
      'environments: [staging]\n    operation_classes: [read]',
    )
    await t.broker.reload(parseConfig(tightened, { baseDir: '.', env: { REDIS_URL: redis.url } }))
    const since = t.logs.lines.slice(logged)
    expect(since.some((l) => l.includes('could not all be revoked; retrying'))).toBe(true)
    expect((await introspect()).body.active).toBe(true)

    await admin.config('SET', 'min-replicas-to-write', '0')
    await vi.waitFor(async () => expect((await introspect()).body).toEqual({ active: false }), {
      timeout: 12_000,
      interval: 200,
    })
    const revoked = t.audit
      .map((l) => JSON.parse(l) as Record<string, any>)
      .filter((e) => e.type === 'session.revoked')
    expect(revoked.at(-1)?.details.reason).toBe(
      'the policy no longer allows build-bot write on staging with internal-api',
    )
  }, 20_000)
})

/** A TCP server that takes connections and never answers, until release() closes them. */
async function silentServer() {
  const sockets: Socket[] = []
  let arrived!: () => void
  const first = new Promise<void>((r) => (arrived = r))
  const server = createServer((s) => {
    sockets.push(s)
    arrived()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    arrived: first,
    release() {
      for (const s of sockets) s.destroy()
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

describe('two reloads at once', () => {
  let t: TestBroker
  let silent: Awaited<ReturnType<typeof silentServer>>
  let dir: string
  beforeAll(async () => {
    t = await testBroker({ keys, yaml: { extraAgents: TEMP_BOT } })
    silent = await silentServer()
    dir = mkdtempSync(join(tmpdir(), 'airlock-reload-'))
  })
  afterAll(async () => {
    silent.release()
    await silent.close()
    await t.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('apply in the order they were asked: a slow earlier one never undoes a later removal', async () => {
    const api = client(t.app, keys)
    const urlFile = join(dir, 'slow.url')
    writeFileSync(urlFile, `postgres://airlock:x@127.0.0.1:${silent.port}/postgres`)
    // The first reload adds a provider whose setup waits on a database that does not answer.
    const slow = testConfigYaml(t.prefix, keys, {
      extraAgents: TEMP_BOT,
      providers: [
        '  - name: slow-db',
        '    type: postgres',
        '    deployment_id: reload-test',
        '    environments:',
        `      staging: { connection: "file:${urlFile}", database: app_staging }`,
      ].join('\n'),
    })
    const parse = (yaml: string) => parseConfig(yaml, { baseDir: '.', env: { REDIS_URL: t.redisUrl } })
    const first = t.broker.reload(parse(slow))
    await silent.arrived
    // The second, asked while the first is still building, removes temp-bot.
    const second = t.broker.reload(parse(testConfigYaml(t.prefix, keys)))
    await new Promise((r) => setTimeout(r, 200))
    silent.release()
    await Promise.all([first, second])
    expect(t.broker.runtime().agents.has('temp-bot')).toBe(false)
    expect((await api.get('/v1/whoami', 'temp-bot')).status).toBe(401)
  })
})

/** Sends a request's headers now and its body only when `finish` is called; resolves the answer. */
function halfSent(port: number, method: string, path: string, authorization: string, body: unknown) {
  const payload = JSON.stringify(body)
  const req = request({
    host: '127.0.0.1',
    port,
    method,
    path,
    headers: {
      authorization,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
    },
  })
  const answer = new Promise<{ status: number; body: Record<string, any> }>((resolve, reject) => {
    req.once('error', reject)
    req.once('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
    })
  })
  req.flushHeaders()
  return { finish: () => (req.end(payload), answer) }
}

describe('a reload while a request body is still arriving', () => {
  let t: TestBroker
  let port: number
  beforeAll(async () => {
    t = await testBroker({ keys, yaml: { extraAgents: TEMP_BOT } })
    await t.app.listen({ host: '127.0.0.1', port: 0 })
    port = (t.app.server.address() as AddressInfo).port
  })
  afterAll(async () => {
    t.app.server.closeAllConnections()
    await t.close()
  })

  it('judges the caller under the config in force when the body is in: removed agents and roles count', async () => {
    const bearer = (who: keyof typeof keys) => `Bearer ${keys[who]}`
    // Authenticated on their headers under the old config...
    const session = halfSent(port, 'POST', '/v1/sessions', bearer('temp-bot'), sessionBody())
    const lock = halfSent(port, 'POST', '/v1/locks', bearer('ops'), { agent: 'build-bot', reason: 'late' })
    await new Promise((r) => setTimeout(r, 300))
    // ...then temp-bot is removed and ops loses the operator role.
    const yaml = testConfigYaml(t.prefix, keys).replace(
      '{ id: ops, roles: [operator, admin]',
      '{ id: ops, roles: [admin]',
    )
    await t.broker.reload(parseConfig(yaml, { baseDir: '.', env: { REDIS_URL: t.redisUrl } }))

    const s = await session.finish()
    expect(s.status, JSON.stringify(s.body)).toBe(401)
    expect(s.body.error).toBe('unauthenticated')
    const l = await lock.finish()
    expect(l.status, JSON.stringify(l.body)).toBe(403)
    expect(l.body.error).toBe('forbidden')
    expect((await client(t.app, keys).get('/v1/locks', 'bob')).body.locks).toEqual([])
  })
})
