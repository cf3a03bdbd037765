// Odd requests at the GraphQL gateway route: malformed bodies, odd content types, odd paths and
// bad percent-encoding are refused with a 4xx, never a 500, and reach nothing upstream.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, testBroker, type TestBroker } from '../helper.js'
import { fakeRailway, railwayProviderYaml, type FakeRailway } from '../support/fake-railway.js'
import { rawRequest } from '../support/upstream.js'

const CANARY = `odd-canary-${randomBytes(12).toString('hex')}`
let railway: FakeRailway
let tb: TestBroker
let port: number
let token: string

beforeAll(async () => {
  railway = await fakeRailway(CANARY)
  process.env['GW_ODD_TOKEN'] = CANARY
  tb = await testBroker({ yaml: { providers: railwayProviderYaml(railway.url, 'env:GW_ODD_TOKEN') } })
  await tb.app.listen({ port: 0, host: '127.0.0.1' })
  port = (tb.app.server.address() as { port: number }).port
  const r = (await client(tb.app, tb.keys).issue('build-bot', {
    provider: 'railway',
    environment: 'staging',
    operation_class: 'write',
  })) as unknown as { grant: { token: string } }
  token = r.grant.token
}, 30_000)

afterAll(async () => {
  await tb?.close()
  await railway?.close()
})

const send = (method: string, path: string, contentType: string, body: string) =>
  rawRequest(
    port,
    `${method} /gw/railway${path} HTTP/1.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: ${contentType}`,
    body,
  )

describe('gateway: odd input is a 4xx, never a 500', () => {
  const cases: [string, string, string, string][] = [
    ['POST', '', 'application/json', '{"query": "{ me { id } "'],
    ['POST', '', 'application/json', '{"query": "{ me { id } }", "variables": "not-json"}'],
    ['POST', '', 'application/json', '{"query": "{ me { id } }", "variables": [1, 2]}'],
    ['POST', '', 'application/json', '{"query": "{ me { id } }", "operationName": 5}'],
    ['POST', '', 'application/json', '[]'],
    ['POST', '', 'application/json', '[1, "x", null]'],
    ['POST', '', 'application/json', 'null'],
    ['POST', '', 'application/json', '"{ me { id } }"'],
    ['POST', '', 'application/json', '{"query": "query A { me { id } } query B { me { id } }"}'],
    ['POST', '', 'application/json', '{"query": "fragment F on Q { ...F } { ...F }"}'],
    ['POST', '', 'text/plain', '{"query": "{ me { id } }"}'],
    ['POST', '', 'application/graphql', '{ me { id } '],
    ['POST', '', 'application/json; charset=utf-8', '\u00ff\u00fe'],
    ['POST', '', ';;;', '{}'],
    ['GET', '?query=%7Bme', 'application/json', ''],
    ['GET', '?query=%E0%A4%A', 'application/json', ''],
    ['GET', '?query={me{id}}&variables=%7B', 'application/json', ''],
    ['GET', '?query=mutation{volumeDelete(volumeId:"v")}', 'application/json', ''],
    ['GET', '/%E0%A4%A', 'application/json', ''],
    ['GET', '/a%2Fb', 'application/json', ''],
    ['GET', `/${'a/'.repeat(2000)}`, 'application/json', ''],
    ['PATCH', '', 'application/json', '{"query": "{ me { id } }"}'],
  ]
  it.each(cases)('%s %s (%s) %s', async (method, path, type, body) => {
    const before = railway.calls.length
    const r = await send(method, path, type, body)
    expect(r.status).toBeGreaterThanOrEqual(400)
    expect(r.status).toBeLessThan(500)
    expect(r.text).not.toContain(CANARY)
    expect(railway.calls.length).toBe(before)
  })
})
