// What approvers are shown of a gateway action in Slack is the whole call the grant will allow:
// a real broker with a plain HTTP gateway provider, the fake Slack, and a real upstream that
// records what it is sent.
import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, sessionBody, testBroker, type TestBroker } from '../helper.js'
import { fakeSlack, interaction, texts, type FakeSlack } from '../support/fake-slack.js'
import { envCredential, gatewayProvider, listen } from '../support/gateway.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

const TOKEN = `xoxb-canary-${randomBytes(12).toString('hex')}`
const SECRET = `canary-signing-${randomBytes(12).toString('hex')}`
let slack: FakeSlack
let upstream: Upstream
let t: TestBroker
let api: ReturnType<typeof client>
let port: number
beforeAll(async () => {
  slack = await fakeSlack({ token: TOKEN })
  upstream = await startUpstream((_s, res) => res.end('{}'))
  t = await testBroker({
    yaml: {
      slack: { apiUrl: slack.url },
      providers: gatewayProvider({
        name: 'volumes-api',
        upstream: upstream.url,
        credential: envCredential('SLACK_ACTION_GW_TOKEN', `gw-${randomBytes(8).toString('hex')}`),
        classes: ['destructive: { http: ["POST /api/**"] }'],
      }),
    },
    env: { SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SECRET },
  })
  api = client(t.app, t.keys)
  port = await listen(t)
}, 30_000)
afterAll(async () => {
  await t?.close()
  await slack?.close()
  await upstream?.close()
})

type Body = Record<string, any>
const requestAction = async (body: unknown, path = '/api/volumes/delete') => {
  const r = await api.post(
    '/v1/sessions',
    'other-bot',
    sessionBody({
      operation_class: 'destructive',
      provider: 'volumes-api',
      action: { method: 'POST', path, body },
    }),
  )
  expect(r.status).toBe(202)
  return r.body.session as Body
}
const shown = async (sid: string) => {
  const post = await slack.waitFor(
    (c) => c.method === 'chat.postMessage' && JSON.stringify(c.args['blocks']).includes(sid),
  )
  return texts(post.args['blocks'])
    .map((x) => x.text)
    .join('\n')
}
const approve = async (user: string, sid: string) => {
  const c = interaction({ secret: SECRET, user, action: 'airlock_approve', value: sid })
  const r = await t.app.inject({
    method: 'POST',
    url: '/slack/interactions',
    headers: c.headers,
    payload: c.body,
  })
  expect(r.statusCode).toBe(200)
}

describe('Slack: the action approvers are shown', () => {
  it('a JSON body with a "query" field on a non-GraphQL API is shown whole, not as GraphQL', async () => {
    const body = { query: 'name=scratch-*', target: 'prod-db', cascade: true }
    const s = await requestAction(body)
    const text = await shown(s.id)
    expect(text).toContain('"target": "prod-db"')
    expect(text).toContain('"cascade": true')

    // Two approvals in Slack, and the call that reaches the upstream is the one shown.
    await approve('U0ALICE', s.id)
    await approve('U0CAROL', s.id)
    const claim = await api.post(`/v1/sessions/${s.id}/grant`, 'other-bot')
    expect(claim.status).toBe(200)
    const sent = JSON.stringify(body)
    const r = await request(`http://127.0.0.1:${port}/gw/volumes-api/api/volumes/delete`, {
      method: 'POST',
      headers: { authorization: `Bearer ${claim.body.grant.token}`, 'content-type': 'application/json' },
      body: sent,
    })
    await r.body.text()
    expect(r.statusCode).toBe(200)
    expect(upstream.seen.at(-1)?.body).toBe(sent)
  })

  it('characters that draw nothing are shown as escapes: a key cannot pass for another', async () => {
    // The upstream ignores the unknown key "dry_run\u200b", so this call deletes for real.
    const body = { target: 'prod-db', 'dry_run\u200b': true, note: 'ok\u2028"force": false\u202e' }
    const s = await requestAction(body)
    const text = await shown(s.id)
    expect(text).toContain('"dry_run\\u200b": true')
    expect(text).toContain('"note": "ok\\u2028\\"force\\": false\\u202e"')
    expect(text).not.toMatch(/[\u200b\u2028\u202e]/)
  })

  it('a GraphQL query is shown as a server reads it: no comment hides a field after a CR', async () => {
    // GraphQL ends a comment at a carriage return too: deleteVolume runs.
    const query =
      'mutation {\n  renameVolume(id: "staging-1") # deleteVolume stays commented out:\r  deleteVolume(id: "prod-db")\n}'
    const text = await shown((await requestAction({ query })).id)
    expect(text).toContain('mutation {\n  renameVolume(id: "staging-1")\n  deleteVolume(id: "prod-db")\n}')
    expect(text).not.toContain('commented out')
  })

  it('a percent-encoded path is shown with the path the upstream decodes; a malformed escape as sent', async () => {
    // The upstream reads /api/prod/volumes/1: approvers must not have to decode it themselves.
    const s = await requestAction({ id: 1 }, '/api/%70rod/volumes/1?force=%zz')
    expect(await shown(s.id)).toContain(
      'POST /api/%70rod/volumes/1?force=%zz (decoded: /api/prod/volumes/1?force=%zz)',
    )
    const plain = await requestAction({ id: 1 }, '/api/volumes/delete?force=%zz')
    const text = await shown(plain.id)
    expect(text).toContain('POST /api/volumes/delete?force=%zz\n')
    expect(text).not.toContain('decoded')
  })

  it('an operationName that cannot be made a string still gets the request posted', async () => {
    const s = await requestAction({ query: 'x', operationName: { toString: 1 } })
    expect(await shown(s.id)).toContain('"toString": 1')
  })
})
