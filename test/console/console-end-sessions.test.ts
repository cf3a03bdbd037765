// An operator signs a person out of the console everywhere (a stolen laptop, someone leaving):
// every browser, on every broker sharing the store, at once; audited with who ended whose.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { client, testBroker, type TestBroker } from '../helper.js'
import { consoleCsrf, consoleSignIn, HTML, KEY_LOGIN } from '../support/console.js'
import { redisServer } from '../support/redis-server.js'

let t: TestBroker
let peer: TestBroker
beforeAll(async () => {
  t = await testBroker({ yaml: KEY_LOGIN })
  // A second broker on the same Redis prefix: a replica.
  peer = await testBroker({ yaml: KEY_LOGIN, prefix: t.prefix, keys: t.keys })
})
afterAll(async () => {
  await peer.close()
  await t.close()
})

const home = async (b: TestBroker, cookie: string) =>
  (await b.app.inject({ method: 'GET', url: '/console', headers: { ...HTML, cookie } })).statusCode

describe('DELETE /v1/console-sessions/{human}', () => {
  it('signs a person out of every browser on every broker at once, and audits who did it', async () => {
    const laptop = await consoleSignIn(t, t.keys.bob)
    const phone = await consoleSignIn(t, t.keys.bob)
    const elsewhere = await consoleSignIn(peer, t.keys.bob)
    const alice = await consoleSignIn(t, t.keys.alice)
    for (const [b, c] of [
      [t, laptop],
      [t, phone],
      [peer, elsewhere],
    ] as const)
      expect(await home(b, c)).toBe(200)

    const r = await client(peer.app, t.keys).del('/v1/console-sessions/bob', 'ops')
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ human: 'bob', ended: 3 })
    // 303 to the sign-in page: the session is gone on both brokers.
    expect(await home(t, laptop)).toBe(303)
    expect(await home(t, phone)).toBe(303)
    expect(await home(peer, elsewhere)).toBe(303)
    expect(await home(peer, laptop)).toBe(303)
    expect(await home(t, alice)).toBe(200)

    const events = (await client(t.app, t.keys).get('/v1/audit?agent=ops', 'ops')).body.events as {
      type: string
      actor: string
      details: Record<string, unknown>
    }[]
    expect(events.find((e) => e.type === 'console.sessions_ended')).toMatchObject({
      actor: 'ops',
      details: { human: 'bob', ended: 3, via: 'api' },
    })
    // Nothing left to end; bob signs in again as usual.
    expect((await client(t.app, t.keys).del('/v1/console-sessions/bob', 'ops')).body.ended).toBe(0)
    expect(await home(t, await consoleSignIn(t, t.keys.bob))).toBe(200)
  })

  it('is for operators only: 403 for an approver, 401 without a key', async () => {
    const alice = await consoleSignIn(t, t.keys.alice)
    const api = client(t.app, t.keys)
    const r = await api.del('/v1/console-sessions/alice', 'carol')
    expect(r.status).toBe(403)
    expect(r.body).toMatchObject({ error: 'forbidden', message: expect.stringMatching(/operator/) })
    expect((await api.del('/v1/console-sessions/alice', null)).status).toBe(401)
    expect(await home(t, alice)).toBe(200)
  })

  it('404 for a person not in the config, 400 for a name that could not be one', async () => {
    const api = client(t.app, t.keys)
    const r = await api.del('/v1/console-sessions/mallory', 'ops')
    expect(r.status).toBe(404)
    expect(r.body).toMatchObject({ error: 'not_found', message: expect.stringMatching(/no person mallory/) })
    const bad = await api.del('/v1/console-sessions/a%20b', 'ops')
    expect(bad.status).toBe(400)
    expect(bad.body.error).toBe('invalid_request')
  })
})

describe('the console’s People page', () => {
  it('an operator signs someone out everywhere from it, recorded via: console', async () => {
    await client(t.app, t.keys).del('/v1/console-sessions/bob', 'ops') // what other tests left
    const bob = [await consoleSignIn(t, t.keys.bob), await consoleSignIn(peer, t.keys.bob)]
    const ops = await consoleSignIn(t, t.keys.ops)
    const page = await t.app.inject({
      method: 'GET',
      url: '/console/people',
      headers: { ...HTML, cookie: ops },
    })
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('action="/console/people/bob/sign-out"')
    const csrf = await consoleCsrf(t, ops)
    const send = (human: string, form: Record<string, string>) =>
      t.app.inject({
        method: 'POST',
        url: `/console/people/${human}/sign-out`,
        headers: { ...HTML, cookie: ops },
        payload: form,
      })
    expect((await send('bob', {})).statusCode).toBe(403)
    expect(await home(t, bob[0] as string)).toBe(200)
    const r = await send('bob', { csrf })
    expect(r.statusCode).toBe(303)
    expect(r.headers.location).toBe('/console/people?done=signedout&n=2')
    expect(await home(t, bob[0] as string)).toBe(303)
    expect(await home(peer, bob[1] as string)).toBe(303)
    const done = await t.app.inject({
      method: 'GET',
      url: r.headers.location,
      headers: { ...HTML, cookie: ops },
    })
    expect(done.body).toContain('2 console sessions ended.')
    const events = (await client(t.app, t.keys).get('/v1/audit?agent=ops', 'ops')).body.events as {
      type: string
      details: Record<string, unknown>
    }[]
    expect(events.find((e) => e.type === 'console.sessions_ended')?.details).toEqual({
      human: 'bob',
      ended: 2,
      via: 'console',
    })
    const unknown = await send('mallory', { csrf })
    expect(unknown.statusCode).toBe(404)
    expect(unknown.body).toContain('there is no person mallory')
  })

  it('is for operators only', async () => {
    const carol = await consoleSignIn(t, t.keys.carol)
    const r = await t.app.inject({
      method: 'GET',
      url: '/console/people',
      headers: { ...HTML, cookie: carol },
    })
    expect(r.statusCode).toBe(403)
    expect(r.body).not.toContain('People</a>')
  })
})

describe('with the store down', () => {
  it('answers 503 unavailable, never a 500, and works again once it is back', async () => {
    const redis = await redisServer()
    const b = await testBroker({ yaml: KEY_LOGIN, redisUrl: redis.url })
    try {
      const bob = await consoleSignIn(b, b.keys.bob)
      await redis.stop()
      const r = await client(b.app, b.keys).del('/v1/console-sessions/bob', 'ops')
      expect(r.status).toBe(503)
      expect(r.body).toMatchObject({ error: 'unavailable', request_id: expect.any(String) })
      await redis.start()
      await vi.waitFor(
        async () => expect((await client(b.app, b.keys).get('/readyz', null)).status).toBe(200),
        {
          timeout: 10_000,
          interval: 100,
        },
      )
      // The private server keeps no data across the restart: bob's session went with it.
      expect(await home(b, bob)).toBe(303)
      expect((await client(b.app, b.keys).del('/v1/console-sessions/bob', 'ops')).body).toEqual({
        human: 'bob',
        ended: 0,
      })
    } finally {
      await b.broker.close()
      await redis.stop()
    }
  })
})
