// calls_per_minute: a session's gateway calls are counted on every replica together; past the
// limit a call is refused with 429 rate_limited and a Retry-After, audited, and never sent. Other
// sessions have their own budget, an environment may set its own limit, and a provider without one
// is not limited.
import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { client, replicaWith, testBroker, testConfigYaml, type TestBroker } from '../helper.js'
import { envCredential, gatewayProvider, listen } from '../support/gateway.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

const CANARY = `limit-canary-${randomBytes(12).toString('hex')}`
let upstream: Upstream
let tb: TestBroker
let peer: TestBroker
let bases: string[]

const providers = () => {
  const credential = envCredential('GW_LIMIT_TOKEN', CANARY)
  const classes = ['read: { http: ["GET /**"] }']
  return (
    gatewayProvider({
      name: 'limited-api',
      upstream: upstream.url,
      credential,
      settings: ['calls_per_minute: 3'],
      classes,
    }) +
    // The environment's own limit wins over the provider's.
    gatewayProvider({
      name: 'env-limited-api',
      upstream: upstream.url,
      credential: `${credential}, calls_per_minute: 1`,
      settings: ['calls_per_minute: 100'],
      classes,
    }) +
    gatewayProvider({ name: 'open-api', upstream: upstream.url, credential, classes })
  )
}

beforeAll(async () => {
  upstream = await startUpstream((_s, res) => res.end('{"ok":true}'))
  tb = await testBroker({ yaml: { providers: providers() } })
  peer = await replicaWith(tb, (y) => y, { yaml: { providers: providers() } })
  bases = [`http://127.0.0.1:${await listen(tb)}/gw`, `http://127.0.0.1:${await listen(peer)}/gw`]
}, 30_000)

afterAll(async () => {
  await peer?.close()
  await tb?.close()
  await upstream?.close()
})

const session = async (provider: string) =>
  (await client(tb.app, tb.keys).issue('build-bot', { provider, operation_class: 'read' })) as unknown as {
    session: { id: string }
    grant: { token: string }
  }

const get = async (token: string, url: string) => {
  const r = await request(url, { headers: { authorization: `Bearer ${token}` } })
  const text = await r.body.text()
  return { status: r.statusCode, headers: r.headers, text }
}

describe('calls_per_minute', () => {
  it('the fourth call in a minute, on either replica, is 429 with Retry-After, audited, and never sent', async () => {
    const s = await session('limited-api')
    const before = upstream.seen.length
    const statuses = []
    for (let i = 0; i < 3; i++)
      statuses.push((await get(s.grant.token, `${bases[i % 2]}/limited-api/items/${i}`)).status)
    expect(statuses).toEqual([200, 200, 200])
    const refused = await get(s.grant.token, `${bases[1]}/limited-api/items/3`)
    expect(refused.status).toBe(429)
    const body = JSON.parse(refused.text) as { error: string; message: string }
    expect(body.error).toBe('rate_limited')
    expect(body.message).toMatch(/at most 3 calls a minute to limited-api; retry in \d+ s/)
    const retryAfter = Number(refused.headers['retry-after'])
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    expect(upstream.seen.length - before).toBe(3)
    expect(upstream.seen.some((r) => r.url === '/items/3')).toBe(false)

    const events = [...tb.audit, ...peer.audit]
      .map((l) => JSON.parse(l) as { type: string; session_id: string; details: Record<string, unknown> })
      .filter((e) => e.session_id === s.session.id && e.type === 'gateway.refused')
    expect(events).toHaveLength(1)
    expect(events[0]?.details).toMatchObject({ refused: 'rate', status: 429, path: '/items/3' })
    for (const line of [...tb.audit, ...peer.audit, refused.text]) expect(line).not.toContain(CANARY)
  })

  it('another session of the same agent has its own budget', async () => {
    const first = await session('limited-api')
    for (let i = 0; i < 4; i++) await get(first.grant.token, `${bases[0]}/limited-api/a`)
    const second = await session('limited-api')
    expect((await get(second.grant.token, `${bases[0]}/limited-api/b`)).status).toBe(200)
  })

  it("an environment's own limit wins over the provider's", async () => {
    const s = await session('env-limited-api')
    expect((await get(s.grant.token, `${bases[0]}/env-limited-api/x`)).status).toBe(200)
    expect((await get(s.grant.token, `${bases[1]}/env-limited-api/x`)).status).toBe(429)
  })

  it('a provider without calls_per_minute is not limited', async () => {
    const s = await session('open-api')
    const statuses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        get(s.grant.token, `${bases[i % 2]}/open-api/y`).then((r) => r.status),
      ),
    )
    expect(statuses.every((st) => st === 200)).toBe(true)
  })

  it('a limit that is not a positive whole number fails the config, naming the path', () => {
    for (const [where, value] of [
      ['provider', '0'],
      ['environment', '2.5'],
    ] as const) {
      const yaml = testConfigYaml(
        'p:',
        {
          ...tb.keys,
        },
        {
          providers: gatewayProvider({
            name: 'bad-api',
            upstream: 'https://api.example.com',
            credential: where === 'environment' ? `env:X, calls_per_minute: ${value}` : 'env:X',
            settings: where === 'provider' ? [`calls_per_minute: ${value}`] : [],
            classes: ['read: { http: ["GET /**"] }'],
          }),
        },
      )
      expect(() =>
        parseConfig(yaml, { baseDir: process.cwd(), env: { X: 'x', REDIS_URL: 'redis://127.0.0.1:1' } }),
      ).toThrow(
        where === 'provider'
          ? /providers\[\d+\]\.calls_per_minute/
          : /providers\[\d+\]\.environments\.staging\.calls_per_minute/,
      )
    }
  })
})
