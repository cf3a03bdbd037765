// Calls the gateway refuses after classifying them are audited like every other refusal: a 503
// when the upstream credential cannot be read (its file is missing), a 400 when the URL parser's
// last check refuses a path, and a 403 when a reload took the session's environment from the
// provider. Each is one `gateway.refused` event with the session, method, path, what was refused,
// the status and the operations and fields classification found, and nothing of the body,
// variables or credential.
// The path check can only refuse what the first containment let through, which no request can
// do: here a wrapper around containPath lets one marked path through, as a bug there would.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type * as PathModule from '../../src/gateway/path.js'
import { parseConfig } from '../../src/config/load.js'
import { client, testBroker, testConfigYaml, type TestBroker } from '../helper.js'
import { tempDir } from '../support/broker-process.js'
import { envCredential, gatewayProvider, listen } from '../support/gateway.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

/** The path a broken containment would let through: it leaves the upstream's base path. */
const LET_THROUGH = '/let-through'
vi.mock('../../src/gateway/path.js', async (importOriginal) => {
  const real = await importOriginal<typeof PathModule>()
  return {
    ...real,
    containPath: (rawUrl: string, prefix: string) =>
      rawUrl.endsWith(LET_THROUGH)
        ? { path: '/../../elsewhere', query: '', segments: ['let-through'] }
        : real.containPath(rawUrl, prefix),
  }
})

const CANARY = `refused-canary-${randomBytes(12).toString('hex')}`
const BODY_MARK = `body-mark-${randomBytes(6).toString('hex')}`
let upstream: Upstream
let tb: TestBroker
let base: string

beforeAll(async () => {
  upstream = await startUpstream((_s, res) => res.end('ok'))
  tb = await testBroker({ yaml: { providers: providers('staging') } })
  base = `http://127.0.0.1:${await listen(tb)}/gw`
}, 30_000)

/** The providers, `ok-api`'s one environment named `okEnv`: a reload can take `staging` from it. */
function providers(okEnv: string): string {
  const missing = join(tempDir(), 'no-such-token')
  const provider = (name: string, credential: string, environment = 'staging') =>
    gatewayProvider({
      name,
      upstream: `${upstream.url}/admin`,
      credential,
      environment,
      classes: ['write: { http: ["GET /**", "POST /**"] }'],
    })
  return (
    provider('ok-api', envCredential('GW_REFUSED_TOKEN', CANARY), okEnv) +
    provider('lost-api', `"file:${missing}"`) +
    gatewayProvider({
      name: 'lost-graphql',
      upstream: `${upstream.url}/graphql`,
      credential: `"file:${missing}"`,
      settings: ['graphql: true'],
      classes: ['write: { queries: ["*"] }'],
    })
  )
}

afterAll(async () => {
  await tb?.close()
  await upstream?.close()
})

const session = async (provider: string) =>
  (await client(tb.app, tb.keys).issue('build-bot', { provider, operation_class: 'write' })) as unknown as {
    session: { id: string }
    grant: { token: string }
  }

const post = async (token: string, url: string, body: unknown = { secret: BODY_MARK }) => {
  const r = await request(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await r.body.text()
  return { status: r.statusCode, text, json: () => JSON.parse(text) as Record<string, unknown> }
}

const eventsOf = (sessionId: string) =>
  tb.audit
    .map(
      (l) => JSON.parse(l) as { type: string; session_id: string | null; details: Record<string, unknown> },
    )
    .filter((e) => e.session_id === sessionId && e.type.startsWith('gateway.'))

/** The call was answered `status` `error`, nothing reached the upstream, and one event says why. */
function expectRefused(
  r: Awaited<ReturnType<typeof post>>,
  sessionId: string,
  seenBefore: number,
  want: { status: number; error: string; details: Record<string, unknown> },
) {
  expect(r.status).toBe(want.status)
  expect(r.json()).toMatchObject({ error: want.error })
  expect(upstream.seen.length).toBe(seenBefore)
  const events = eventsOf(sessionId)
  expect(events).toHaveLength(1)
  expect(events[0]).toMatchObject({
    type: 'gateway.refused',
    details: { ...want.details, status: want.status },
  })
}

describe('gateway: refusals after classification are audited', () => {
  it('a credential that cannot be read: 503, nothing sent, one gateway.refused event', async () => {
    const { session: s, grant } = await session('lost-api')
    const before = upstream.seen.length
    const r = await post(grant.token, `${base}/lost-api/items?x=1`)
    expectRefused(r, s.id, before, {
      status: 503,
      error: 'unavailable',
      details: { method: 'POST', path: '/items', refused: 'credential' },
    })
  })

  it('a GraphQL call whose credential cannot be read: the event names its operation and fields', async () => {
    const { session: s, grant } = await session('lost-graphql')
    const before = upstream.seen.length
    const r = await post(grant.token, `${base}/lost-graphql`, {
      query: 'query Items($mark: String) { items(mark: $mark) { id } }',
      variables: { mark: BODY_MARK },
    })
    expectRefused(r, s.id, before, {
      status: 503,
      error: 'unavailable',
      details: { method: 'POST', path: '/', refused: 'credential', operations: ['Items'], fields: ['items'] },
    })
  })

  it('a path the URL parser finds outside the upstream: 400, nothing sent, one gateway.refused event', async () => {
    const { session: s, grant } = await session('ok-api')
    const before = upstream.seen.length
    const r = await post(grant.token, `${base}/ok-api${LET_THROUGH}`)
    expectRefused(r, s.id, before, {
      status: 400,
      error: 'invalid_request',
      details: { method: 'POST', path: LET_THROUGH, refused: 'path' },
    })
    // The same session's ordinary call still goes through.
    expect((await post(grant.token, `${base}/ok-api/items`)).status).toBe(200)
  })

  it('an environment a reload took from the provider: 403 operation_denied, one gateway.refused event', async () => {
    const { session: s, grant } = await session('ok-api')
    const yaml = testConfigYaml(tb.prefix, tb.keys, { providers: providers('prod') })
    await tb.broker.reload(parseConfig(yaml, { baseDir: process.cwd(), env: { REDIS_URL: tb.redisUrl } }))
    const before = upstream.seen.length
    const r = await post(grant.token, `${base}/ok-api/items`)
    expectRefused(r, s.id, before, {
      status: 403,
      error: 'operation_denied',
      details: { method: 'POST', path: '/items', refused: 'request' },
    })
    expect(r.json()['message']).toBe('ok-api has no rules for write in staging')
  })

  it('no event carries the body, the query string or the credential', () => {
    const all = tb.audit.join('\n')
    expect(all).not.toContain(BODY_MARK)
    expect(all).not.toContain(CANARY)
    expect(all).not.toContain('x=1')
  })
})
