import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, testBroker, type TestBroker } from '../helper.js'

let t: TestBroker
beforeAll(async () => {
  t = await testBroker()
})
afterAll(async () => t.close())

describe('smoke', () => {
  it('issues, introspects and revokes', async () => {
    const { session, grant } = await client(t.app, t.keys).issue('build-bot')
    expect(session.status).toBe('active')
    const i = await t.app.inject({
      method: 'POST',
      url: '/v1/introspect',
      headers: t.as('internal-api'),
      payload: { token: grant.token },
    })
    expect(i.json()).toMatchObject({ active: true, sid: session.id })
    const d = await t.app.inject({
      method: 'DELETE',
      url: `/v1/sessions/${session.id}`,
      headers: t.as('build-bot'),
    })
    expect(d.json().session.status).toBe('revoked')
    const i2 = await t.app.inject({
      method: 'POST',
      url: '/v1/introspect',
      headers: t.as('internal-api'),
      payload: { token: grant.token },
    })
    expect(i2.json()).toEqual({ active: false })
  })
})
