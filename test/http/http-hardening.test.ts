// Small HTTP hardening: `since` before 1970, no caching of responses that carry tokens, and who
// may read /metrics (server.metrics: operator by default, public, or a separate listen address).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'
import { client, newKeys, sessionBody, testBroker, testConfigYaml, type TestBroker } from '../helper.js'

const brokers: TestBroker[] = []
afterAll(async () => {
  for (const b of brokers) await b.close()
})
const start = async (metrics?: string | null) => {
  const t = await testBroker({ yaml: { metrics } })
  brokers.push(t)
  return t
}

describe('GET /v1/audit?since=', () => {
  let t: TestBroker
  beforeAll(async () => {
    t = await start()
  })

  it('a date before 1970 is a 400 invalid_request naming since, not a 503', async () => {
    for (const since of ['0000-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '1900-06-01T12:00:00+02:00']) {
      const r = await t.app.inject({
        method: 'GET',
        url: `/v1/audit?since=${encodeURIComponent(since)}`,
        headers: t.as('ops'),
      })
      expect(r.statusCode, since).toBe(400)
      expect(r.json()).toMatchObject({ error: 'invalid_request', message: expect.stringMatching(/^since /) })
    }
  })

  it('1970 itself and later dates still work', async () => {
    const r = await t.app.inject({
      method: 'GET',
      url: `/v1/audit?since=${encodeURIComponent('1970-01-01T00:00:00Z')}`,
      headers: t.as('ops'),
    })
    expect(r.statusCode, r.body).toBe(200)
    expect((r.json().events as unknown[]).length).toBeGreaterThan(0)
  })
})

describe('responses that carry a token are never cached (RFC 6749 §5.1)', () => {
  let t: TestBroker
  beforeAll(async () => {
    t = await start()
  })
  const noStore = (h: Record<string, unknown>) => {
    expect(h['cache-control']).toBe('no-store')
    expect(h['pragma']).toBe('no-cache')
  }

  it('an immediate grant, a claimed grant and introspection say no-store and no-cache', async () => {
    const api = client(t.app, t.keys)
    const issued = await api.post('/v1/sessions', 'build-bot', sessionBody())
    expect(issued.status).toBe(201)
    noStore(issued.headers)

    // other-bot is owned by bob: alice and carol approve, then the agent claims.
    const pending = await api.post(
      '/v1/sessions',
      'other-bot',
      sessionBody({ operation_class: 'destructive' }),
    )
    expect(pending.status).toBe(202)
    const id = pending.body.session.id as string
    for (const who of ['alice', 'carol'])
      expect((await api.post(`/v1/sessions/${id}/approvals`, who, { decision: 'approve' })).status).toBe(200)
    const claimed = await api.post(`/v1/sessions/${id}/grant`, 'other-bot')
    expect(claimed.status, JSON.stringify(claimed.body)).toBe(200)
    expect(claimed.body.grant.token).toEqual(expect.any(String))
    noStore(claimed.headers)

    const active = await api.post('/v1/introspect', 'ops', { token: issued.body.grant.token })
    expect(active.body.active).toBe(true)
    noStore(active.headers)
    noStore((await api.post('/v1/introspect', 'ops', { token: 'nope' })).headers)
  })

  it('errors are not cached either, and the JWKS keeps its own public caching', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/v1/sessions', payload: {} })
    expect(r.statusCode).toBe(401)
    noStore(r.headers)
    const jwks = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    expect(jwks.headers['cache-control']).toBe('public, max-age=300')
    expect(jwks.headers['pragma']).toBeUndefined()
  })
})

describe('server.metrics', () => {
  const scrape = (t: TestBroker, who?: 'ops' | 'alice' | 'build-bot') =>
    t.app.inject({ method: 'GET', url: '/metrics', headers: who ? t.as(who) : {} })

  it('by default /metrics needs an operator bearer', async () => {
    const t = await start(null)
    expect(t.broker.runtime().config.server.metrics).toEqual({ mode: 'operator' })
    const anon = await scrape(t)
    expect(anon.statusCode).toBe(401)
    expect(anon.json()).toMatchObject({ error: 'unauthenticated' })
    expect(anon.body).not.toContain('airlock_')
    for (const who of ['alice', 'build-bot'] as const) {
      const r = await scrape(t, who)
      expect(r.statusCode, who).toBe(403)
      expect(r.body).not.toContain('airlock_http_requests_total')
    }
    const ops = await scrape(t, 'ops')
    expect(ops.statusCode).toBe(200)
    expect(ops.body).toContain('airlock_http_requests_total')
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json()
    expect(doc.paths['/metrics'].get.security).toBeUndefined() // the bearer, like the /v1 routes
  })

  it('operator, written out, is the same', async () => {
    const t = await start('operator')
    expect((await scrape(t)).statusCode).toBe(401)
    expect((await scrape(t, 'ops')).statusCode).toBe(200)
  })

  it('public serves anyone, as before', async () => {
    const t = await start('public')
    const r = await scrape(t)
    expect(r.statusCode).toBe(200)
    expect(r.body).toContain('airlock_http_requests_total')
  })

  it('a listen address serves /metrics there, without a credential, and not on the API port', async () => {
    const t = await start('{ listen: "127.0.0.1:0" }')
    const port = t.broker.metricsPort as number
    expect(port).toBeGreaterThan(0)
    expect((await scrape(t, 'ops')).statusCode).toBe(404)
    await scrape(t) // counted like any request
    const r = await fetch(`http://127.0.0.1:${port}/metrics`)
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toContain('text/plain')
    expect(await r.text()).toContain('airlock_http_requests_total')
    // Nothing of the API is reachable on the metrics address.
    for (const path of ['/healthz', '/v1/sessions', '/metrics/../v1/audit'])
      expect((await fetch(`http://127.0.0.1:${port}${path}`)).status, path).toBe(404)
    await t.broker.close()
    brokers.splice(brokers.indexOf(t), 1)
    await t.close().catch(() => {})
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow()
  })

  it('a reload that changes it is refused, naming it (it needs a restart)', async () => {
    const t = await start('public')
    const next = parseConfig(testConfigYaml(t.prefix, t.keys, { metrics: 'operator' }), {
      baseDir: process.cwd(),
      env: { REDIS_URL: t.redisUrl },
    })
    await expect(t.broker.reload(next)).rejects.toMatchObject({
      problems: [{ path: 'server.metrics', message: expect.stringContaining('restart') }],
    })
    expect((await scrape(t)).statusCode).toBe(200)
  })

  it('a bad value is a config error naming its path', () => {
    const problems = (metrics: string) => {
      try {
        parseConfig(testConfigYaml('p:', newKeys(), { metrics, port: 8080 }), {
          baseDir: process.cwd(),
          env: { REDIS_URL: 'redis://127.0.0.1:1' },
        })
        return []
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e
        return e.problems
      }
    }
    expect(problems('everyone')).toEqual([
      { path: 'server.metrics', message: expect.stringContaining('public, operator or { listen') },
    ])
    expect(problems('{ listen: "nowhere" }')).toEqual([
      { path: 'server.metrics.listen', message: expect.stringContaining('host:port') },
    ])
    expect(problems('{ listen: "127.0.0.1:70000" }')).toEqual([
      { path: 'server.metrics.listen', message: expect.stringContaining('host:port') },
    ])
    expect(problems('{ listen: "127.0.0.1:8080" }')).toEqual([
      { path: 'server.metrics.listen', message: expect.stringContaining("the API's own address") },
    ])
    expect(problems('{ listen: "[::1]:9464" }')).toEqual([])
  })
})
