// What the console shows approvers of a request is what the agent sent, and reads as it is: no
// character of the agent's can hide part of a gateway action or reorder the text around it.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, sessionBody, testBroker, type TestBroker } from '../helper.js'
import { consoleSignIn, HTML, KEY_LOGIN } from '../support/console.js'
import { envCredential, gatewayProvider } from '../support/gateway.js'

let t: TestBroker
let api: ReturnType<typeof client>
beforeAll(async () => {
  t = await testBroker({
    yaml: {
      ...KEY_LOGIN,
      providers: gatewayProvider({
        name: 'volumes-api',
        upstream: 'http://127.0.0.1:9',
        credential: envCredential('CONSOLE_TEXT_GW_TOKEN', `gw-${randomBytes(8).toString('hex')}`),
        classes: ['destructive: { http: ["POST /api/**"] }'],
      }),
    },
  })
  api = client(t.app, t.keys)
}, 30_000)
afterAll(async () => {
  await t?.close()
})

const page = async (extra: Record<string, unknown>) => {
  const r = await api.post(
    '/v1/sessions',
    'other-bot',
    sessionBody({ operation_class: 'destructive', provider: 'volumes-api', ...extra }),
  )
  expect(r.status, JSON.stringify(r.body)).toBe(202)
  const cookie = await consoleSignIn(t, t.keys.carol)
  const res = await t.app.inject({
    method: 'GET',
    url: `/console/sessions/${r.body.session.id as string}`,
    headers: { ...HTML, cookie },
  })
  expect(res.statusCode).toBe(200)
  return res.body
}

describe('console: agent-written text', () => {
  it('shows characters that draw nothing in an action as escapes: a key cannot pass for another', async () => {
    // The upstream ignores the unknown key "dry_run\u200b", so this call deletes for real.
    const body = { target: 'prod-db', 'dry_run\u200b': true, note: 'ok\u2028"force": false\u202e' }
    const html = await page({ action: { method: 'POST', path: '/api/volumes/delete', body } })
    expect(html).toContain('&quot;dry_run\\u200b&quot;: true')
    expect(html).toContain('&quot;note&quot;: &quot;ok\\u2028\\&quot;force\\&quot;: false\\u202e&quot;')
    expect(html).not.toMatch(/[\u200b\u2028\u202e]/)
  })

  it('shows a GraphQL query as a server reads it, as Slack does: no comment hides a field after a CR', async () => {
    // GraphQL ends a comment at a carriage return too: deleteVolume runs.
    const query =
      'mutation {\n  renameVolume(id: "staging-1") # deleteVolume stays commented out:\r  deleteVolume(id: "prod-db")\n}'
    const html = await page({
      action: { method: 'POST', path: '/api/graphql', body: { query, variables: { dry: false } } },
    })
    expect(html).toContain(
      'POST /api/graphql\nmutation {\n  renameVolume(id: &quot;staging-1&quot;)\n  deleteVolume(id: &quot;prod-db&quot;)\n}\nVariables: {\n  &quot;dry&quot;: false\n}',
    )
    expect(html).not.toContain('commented out')
  })

  it('shows a percent-encoded path with the path the upstream decodes; a malformed escape as sent', async () => {
    const encoded = await page({
      action: { method: 'POST', path: '/api/%70rod/volumes/1?force=%zz', body: { id: 1 } },
    })
    expect(encoded).toContain('POST /api/%70rod/volumes/1?force=%zz (decoded: /api/prod/volumes/1?force=%zz)')
    const plain = await page({
      action: { method: 'POST', path: '/api/volumes/1?force=%zz', body: { id: 1 } },
    })
    expect(plain).toContain('POST /api/volumes/1?force=%zz\n{')
    expect(plain).not.toContain('decoded')
  })

  it('takes direction overrides and controls out of the task and justification, as Slack does', async () => {
    const html = await page({
      task: { id: 'T-1', description: 'rotate \u202Egnp.exe' },
      justification: 'staging\u2066 only\u0007',
      action: { method: 'POST', path: '/api/volumes/delete' },
    })
    expect(html).toContain('rotate gnp.exe')
    expect(html).toContain('staging only')
    for (const c of ['\u202e', '\u2066', '\u0007']) expect(html).not.toContain(c)
  })
})
