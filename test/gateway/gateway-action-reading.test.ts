// An approved action is compared as the UTF-8 text of its body, and a JSON body as JSON. An upstream
// may read the same bytes otherwise: in the charset the Content-Type names (body-parser decodes any
// utf-* with iconv-lite, UTF-7 too), or as a form (Rails, Laravel); there the call two people
// approved can read as another, so such a call is never sent.
import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, testBroker, type TestBroker } from '../helper.js'
import { envCredential, gatewayProvider, listen } from '../support/gateway.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

const CANARY = `charset-canary-${randomBytes(12).toString('hex')}`
// In UTF-8, a note. In UTF-7 (`+...-` is base64 of UTF-16), `","volumeId":"vol-prod-1` closes the
// note and gives volumeId again: JSON.parse keeps the last, and the prod volume is deleted.
const APPROVED = '{"volumeId":"vol-staging-1","note":"+ACIALAAi-volumeId+ACIAOgAi-vol-prod-1"}'
let upstream: Upstream
let tb: TestBroker
let base: string

beforeAll(async () => {
  upstream = await startUpstream((_s, res) => res.end('{"ok":true}'))
  tb = await testBroker({
    yaml: {
      providers: gatewayProvider({
        name: 'vol-api',
        upstream: `${upstream.url}/v1`,
        credential: envCredential('GW_CHARSET_TOKEN', CANARY),
        classes: ['read: { http: ["GET /**"] }', 'destructive: { http: ["DELETE /volumes"] }'],
      }),
    },
  })
  base = `http://127.0.0.1:${await listen(tb)}/gw/vol-api`
}, 30_000)

afterAll(async () => {
  await tb?.close()
  await upstream?.close()
})

/** An approved and claimed session for DELETE /volumes with `body`; sends that body as `type`. */
async function approvedCall(body: string) {
  const api = client(tb.app, tb.keys)
  const id = await api.approved({ provider: 'vol-api', action: { method: 'DELETE', path: '/volumes', body } })
  const claimed = await api.post(`/v1/sessions/${id}/grant`, 'build-bot')
  expect(claimed.status, JSON.stringify(claimed.body)).toBe(200)
  const token = (claimed.body as { grant: { token: string } }).grant.token
  return async (contentType: string | null) => {
    const r = await request(`${base}/volumes`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}`, ...(contentType && { 'content-type': contentType }) },
      body,
    })
    return { status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> }
  }
}

describe('an approved action read another way', () => {
  it('in another charset is refused and not used up; the same bytes as UTF-8 go through once', async () => {
    const send = await approvedCall(APPROVED)
    upstream.seen.length = 0

    for (const charset of ['utf-7', 'UTF-16LE']) {
      const r = await send(`application/json; charset=${charset}`)
      expect(r.status).toBe(403)
      expect(r.body).toMatchObject({ error: 'operation_denied', message: expect.stringMatching(/UTF-8/) })
    }
    expect(upstream.seen).toHaveLength(0)
    expect((await send('application/json; charset=utf-8')).status).toBe(200)
    expect(upstream.seen).toHaveLength(1)
  })

  // A form reads `{"note":"` = `x`... as `volumeId=vol-prod-1`; the approvers saw a JSON note. As
  // text/plain a JSON parser reads no body at all: a call without the parameters approved.
  it('a JSON body sent as anything but JSON (a form, no type, text) is refused', async () => {
    const send = await approvedCall('{"note":"&volumeId=vol-prod-1&x="}')
    upstream.seen.length = 0
    const types = ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', null, 'text/plain']
    for (const type of types) {
      const r = await send(type)
      expect(r.status).toBe(403)
      expect(r.body).toMatchObject({ error: 'operation_denied', message: expect.stringMatching(/JSON/) })
    }
    expect(upstream.seen).toHaveLength(0)
    expect((await send('application/vnd.api+json; charset=utf-8')).status).toBe(200)
  })
})
