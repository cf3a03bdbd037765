// Audit before effect: a gateway call that may change the upstream (an HTTP method other than GET,
// HEAD or OPTIONS; a GraphQL mutation) is sent only once a `gateway.sending` event is written, and
// its outcome follows as `gateway.forwarded`. A read is audited once, after its answer. Redis here
// is a private server made to refuse every write while it still answers reads, as a primary that
// lost its replicas does (min-replicas-to-write): sessions still check, nothing can be audited.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, testBroker, type TestBroker } from '../helper.js'
import { envCredential, gatewayProvider, listen } from '../support/gateway.js'
import { redisServer, type RedisServer } from '../support/redis-server.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

const CANARY = `first-canary-${randomBytes(12).toString('hex')}`
let redis: RedisServer
let admin: Redis
let upstream: Upstream
let tb: TestBroker
let base: string

beforeAll(async () => {
  redis = await redisServer()
  admin = new Redis(redis.url)
  upstream = await startUpstream((s, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ data: { seen: s.method } }))
  })
  const credential = envCredential('GW_FIRST_TOKEN', CANARY)
  tb = await testBroker({
    redisUrl: redis.url,
    yaml: {
      providers:
        gatewayProvider({
          name: 'items-api',
          upstream: `${upstream.url}/api`,
          credential,
          classes: ['write: { http: ["GET /**", "POST /items", "PUT /items/*"] }'],
        }) +
        gatewayProvider({
          name: 'graph-api',
          upstream: `${upstream.url}/graphql`,
          credential,
          settings: ['graphql: true'],
          classes: ['write: { queries: ["*"], mutations: ["createItem"] }'],
        }),
    },
  })
  base = `http://127.0.0.1:${await listen(tb)}/gw`
}, 30_000)

afterAll(async () => {
  await admin?.config('SET', 'min-replicas-to-write', '0').catch(() => {})
  admin?.disconnect()
  await tb?.close()
  await upstream?.close()
  await redis?.stop()
})

const session = async (provider: string) =>
  (await client(tb.app, tb.keys).issue('build-bot', { provider, operation_class: 'write' })) as unknown as {
    session: { id: string }
    grant: { token: string }
  }

const call = async (token: string, method: string, url: string, body?: unknown) => {
  const r = await request(url, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  return { status: r.statusCode, text: await r.body.text() }
}

/**
 * Runs `f` while Redis refuses every write; then `token`'s next call to `url` is refused with its
 * own event written, which lets the gateway send calls again (docs/gateway.md).
 */
async function whileWritesRefused(token: string, url: string, f: () => Promise<void>) {
  await admin.config('SET', 'min-replicas-to-write', '1')
  try {
    await f()
  } finally {
    await admin.config('SET', 'min-replicas-to-write', '0')
  }
  const next = await call(token, 'GET', url)
  expect(next.status).toBe(503)
  expect(JSON.parse(next.text).message).toMatch(/nothing was sent/)
}

const eventsOf = (sessionId: string) =>
  tb.audit.map((l) => JSON.parse(l) as Record<string, any>).filter((e) => e.session_id === sessionId)

describe('audit before effect', () => {
  it('a call that may change the upstream is not sent while its event cannot be written', async () => {
    const s = await session('items-api')
    const before = upstream.seen.length
    await whileWritesRefused(s.grant.token, `${base}/items-api/items`, async () => {
      const post = await call(s.grant.token, 'POST', `${base}/items-api/items`, { name: 'x' })
      expect(post.status).toBe(503)
      expect(JSON.parse(post.text)).toMatchObject({
        error: 'unavailable',
        message: 'the audit log cannot be written, so nothing was sent; try again when it is back',
      })
      expect(upstream.seen.length).toBe(before)
    })
    expect(upstream.seen.length).toBe(before)
    const put = await call(s.grant.token, 'PUT', `${base}/items-api/items/7`, { name: 'y' })
    expect(put.status).toBe(200)
    expect(upstream.seen.length).toBe(before + 1)
    const [sending, forwarded] = eventsOf(s.session.id).filter((e) =>
      ['gateway.sending', 'gateway.forwarded'].includes(e.type),
    )
    expect(sending?.type).toBe('gateway.sending')
    expect(sending?.details).toEqual({
      provider: 'items-api',
      environment: 'staging',
      operation_class: 'write',
      method: 'PUT',
      path: '/items/7',
      operations: [],
      fields: [],
    })
    expect(forwarded?.type).toBe('gateway.forwarded')
    expect(forwarded?.details).toMatchObject({ method: 'PUT', path: '/items/7', status: 200 })
    expect(forwarded?.seq).toBeGreaterThan(sending?.seq)
    expect(tb.audit.join('\n')).not.toContain(CANARY)
  })

  it('a read is audited once, after its answer, which is withheld while that event cannot be written', async () => {
    const s = await session('items-api')
    const before = upstream.seen.length
    await whileWritesRefused(s.grant.token, `${base}/items-api/items`, async () => {
      const get = await call(s.grant.token, 'GET', `${base}/items-api/items`)
      expect(get.status, get.text).toBe(503)
      expect(JSON.parse(get.text).message).toBe(
        'the audit log cannot be written, so the answer of items-api is withheld (the call did reach it); try again when it is back',
      )
      expect(upstream.seen.length).toBe(before + 1)
    })
    expect((await call(s.grant.token, 'GET', `${base}/items-api/items`)).status).toBe(200)
    expect(eventsOf(s.session.id).map((e) => e.type)).toEqual([
      'session.issued',
      'gateway.refused',
      'gateway.forwarded',
    ])
  })

  it('a GraphQL mutation is audited before it is sent; a query after its answer only', async () => {
    const s = await session('graph-api')
    const before = upstream.seen.length
    const mutation = { query: 'mutation { createItem(name: "x") { id } }' }
    await whileWritesRefused(s.grant.token, `${base}/graph-api?query=%7Bitems%7Bid%7D%7D`, async () => {
      const r = await call(s.grant.token, 'POST', `${base}/graph-api`, mutation)
      expect(r.status).toBe(503)
      expect(JSON.parse(r.text).message).toMatch(/nothing was sent/)
      expect(upstream.seen.length).toBe(before)
    })
    expect((await call(s.grant.token, 'POST', `${base}/graph-api`, mutation)).status).toBe(200)
    expect(
      (await call(s.grant.token, 'POST', `${base}/graph-api`, { query: '{ items { id } }' })).status,
    ).toBe(200)
    expect(upstream.seen.length).toBe(before + 2)
    const types = eventsOf(s.session.id).map((e) => [
      e.type,
      e.details.operations?.join() ?? null,
      e.details.fields?.join() ?? null,
    ])
    expect(types.slice(-3)).toEqual([
      ['gateway.sending', '(anonymous)', 'createItem'],
      ['gateway.forwarded', '(anonymous)', 'createItem'],
      ['gateway.forwarded', '(anonymous)', 'items'],
    ])
  })
})
