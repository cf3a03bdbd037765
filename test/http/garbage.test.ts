// Every route in the OpenAPI document, fed garbage: a client mistake is never a 500, and every
// error leaves in Airlock's error body.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { testBroker, type TestBroker } from '../helper.js'

let t: TestBroker
let routes: { method: string; path: string }[] = []
beforeAll(async () => {
  t = await testBroker({ masterKey: randomBytes(32) })
  const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json() as {
    paths: Record<string, object>
  }
  routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })),
  )
})
afterAll(async () => t.close())

const PARAMS = ['ses_x', '%00', 'a'.repeat(300), '%F0%9F%92%A5', '..%2F..', 'lck_%27%22%3B']
const BODIES: [string, string][] = [
  ['application/json', 'null'],
  ['application/json', '[]'],
  ['application/json', '"x"'],
  ['application/json', '123'],
  ['application/json', '{}'],
  ['application/json', '{"environment":{"$gt":""},"task":[1,2]}'],
  ['application/json', `{"a":${'['.repeat(2000)}${']'.repeat(2000)}}`],
  ['application/json', '{"decision":"approve","comment":"\u0000\ud800"}'],
  ['application/x-www-form-urlencoded', 'token=&token=&payload=%%%'],
  ['text/plain', 'hello'],
]

describe('garbage in, never a 500', () => {
  it('every route, every principal kind, odd params and bodies', async () => {
    expect(routes.length).toBeGreaterThan(15)
    let calls = 0
    for (const r of routes) {
      for (const who of ['ops', 'build-bot', 'internal-api', null] as const) {
        for (const param of PARAMS) {
          const url = r.path.replace(/\{[^}]+\}/g, param).replace('*', param)
          for (const [type, payload] of r.method === 'GET' || r.method === 'DELETE'
            ? [[undefined, undefined]]
            : BODIES) {
            const headers: Record<string, string> = who ? { ...t.as(who) } : {}
            if (type) headers['content-type'] = type
            const res = await t.app.inject({
              method: r.method as 'GET',
              url,
              headers,
              ...(payload !== undefined && { payload }),
            })
            calls++
            expect(res.statusCode, `${r.method} ${url} as ${who}: ${res.body}`).toBeLessThan(500)
            // A HEAD answer never has a body (the gateway route takes every method).
            if (res.statusCode >= 400 && r.method !== 'HEAD') {
              expect(Object.keys(res.json()).sort(), `${r.method} ${url}`).toEqual([
                'error',
                'message',
                'request_id',
              ])
            }
          }
        }
      }
    }
    expect(calls).toBeGreaterThan(1000)
  }, 120_000)
})
