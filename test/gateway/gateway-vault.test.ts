// The gateway's upstream token in Airlock's vault: written through the API, sent to the upstream,
// rotated without a restart (the next call carries the new token), and never returned.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { captureResponses, client, testBroker, type TestBroker } from '../helper.js'
import { startUpstream, type Upstream } from '../support/upstream.js'
import { arrives } from '../support/bounded.js'

const FIRST = `vault-canary-1-${randomBytes(12).toString('hex')}`
const SECOND = `vault-canary-2-${randomBytes(12).toString('hex')}`
let upstream: Upstream
let tb: TestBroker
const responses: string[] = []

beforeAll(async () => {
  upstream = await startUpstream((s, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end(`seen ${String(s.headers['x-api-key'])}`)
  })
  tb = await testBroker({
    masterKey: randomBytes(32),
    yaml: {
      providers: `
  - name: admin-api
    type: gateway
    upstream: "${upstream.url}"
    environments:
      staging: { credential: vault:admin/staging, header: X-Api-Key }
    operation_classes:
      read: { http: ["GET /**"] }
`,
    },
  })
  captureResponses(tb.app, responses)
})

afterAll(async () => {
  await tb?.close()
  await upstream?.close()
})

const put = async (value: string) => {
  const changed = new Promise<void>((resolve) => tb.broker.app.broker.vault?.onChange(() => resolve()))
  const r = await tb.app.inject({
    method: 'PUT',
    url: '/v1/vault/admin/staging',
    headers: tb.as('ops'),
    payload: { value },
  })
  expect(r.statusCode).toBe(204)
  await arrives(changed, "the vault's change notification")
}

describe('gateway credential in the vault', () => {
  it('is sent in the configured header, redacted on the way back, and rotated without a restart', async () => {
    const { grant } = await client(tb.app, tb.keys).issue('build-bot', { provider: 'admin-api' })
    const get = async () => {
      const r = await tb.app.inject({
        method: 'GET',
        url: '/gw/admin-api/x',
        headers: { authorization: `Bearer ${grant.token}` },
      })
      return { status: r.statusCode, body: r.body }
    }
    // Nothing in the vault yet: 503, nothing sent.
    expect((await get()).status).toBe(503)
    expect(upstream.seen).toEqual([])
    await put(FIRST)
    expect(await get()).toEqual({ status: 200, body: 'seen [redacted]' })
    expect(upstream.seen.at(-1)?.headers['x-api-key']).toBe(FIRST)
    expect(upstream.seen.at(-1)?.headers['authorization']).toBeUndefined()
    await put(SECOND)
    expect(await get()).toEqual({ status: 200, body: 'seen [redacted]' })
    expect(upstream.seen.at(-1)?.headers['x-api-key']).toBe(SECOND)
  })

  it('neither token appears in any response, log line or audit event', () => {
    for (const text of [...responses, ...tb.logs.lines, ...tb.audit]) {
      expect(text).not.toContain(FIRST)
      expect(text).not.toContain(SECOND)
    }
  })
})
