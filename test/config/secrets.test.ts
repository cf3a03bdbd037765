// Canary secrets: an agent's API key, an operator's API key and the signing key never appear in
// any response (body or header), log line or audit event, across successes and failures.
import { generateKeyPairSync } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadSigningKey } from '../../src/tokens/keys.js'
import { captureResponses, client, newKeys, sessionBody, testBroker, type TestBroker } from '../helper.js'

const CANARY_AGENT = 'ak_build-bot_CANARY_7f3a9c2e1d5b8a4f6e0c'
const CANARY_OPS = 'ak_ops_CANARY_b2c4d6e8f0a1c3e5g7i9'
const { privateKey } = generateKeyPairSync('ed25519')
const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const pemBody = pem
  .split('\n')
  .filter((l) => l && !l.startsWith('-----'))
  .join('')
const privateD = privateKey.export({ format: 'jwk' }).d as string

let t: TestBroker
const responses: string[] = []

beforeAll(async () => {
  const keys = { ...newKeys(), 'build-bot': CANARY_AGENT, ops: CANARY_OPS }
  t = await testBroker({ keys, signingKey: await loadSigningKey(pem, 'EdDSA') })
  // Record every response the app sends, headers and body.
  captureResponses(t.app, responses)
})
afterAll(async () => t.close())

describe('canary secrets', () => {
  it('appear in no response, log line or audit event', async () => {
    const api = client(t.app, t.keys)
    const s = await api.issue('build-bot')
    await api.get(`/v1/sessions/${s.session.id}`, 'build-bot')
    await api.post('/v1/introspect', 'ops', { token: s.grant.token })
    await api.post('/v1/locks', 'ops', { task_id: 'LOCK-T', reason: 'canary' })
    await api.get('/v1/locks', 'ops')
    await api.get('/v1/audit?limit=1000', 'ops')
    await api.get('/v1/audit/verify', 'ops')
    await api.get('/v1/providers', 'ops')
    await api.get('/.well-known/jwks.json', null)
    await api.get('/docs/json', null)
    await t.app.inject({ method: 'GET', url: '/metrics' })
    await api.del(`/v1/sessions/${s.session.id}`, 'ops')
    // Failures that might echo what they were given:
    await api.post('/v1/sessions', CANARY_AGENT.replace('CANARY', 'CANARX'), sessionBody()) // wrong key
    await t.app.inject({ method: 'GET', url: '/v1/locks', headers: { authorization: `Basic ${CANARY_OPS}` } })
    await t.app.inject({ method: 'GET', url: `/v1/sessions/${CANARY_OPS}`, headers: t.as('ops') })
    await api.post('/v1/sessions', 'build-bot', sessionBody({ justification: 'x'.repeat(20_000) }))
    await api.post('/v1/introspect', 'ops', { token: CANARY_AGENT })
    await api.post('/v1/sessions', 'ops', sessionBody())
    await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { ...t.as('build-bot'), 'content-type': 'application/json' },
      payload: `{"broken": "${CANARY_OPS}`,
    })

    const everything = [...responses, ...t.logs.lines, ...t.audit].join('\n')
    expect(responses.length).toBeGreaterThan(20)
    expect(t.audit.length).toBeGreaterThan(3)
    for (const canary of [CANARY_AGENT, CANARY_OPS, pemBody, privateD, 'CANARY']) {
      const at = everything.indexOf(canary)
      expect(at, everything.slice(Math.max(0, at - 300), at + 100)).toBe(-1)
    }
  })
})
