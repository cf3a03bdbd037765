// The GitHub App's private key in the vault: rotated without a restart (PKCS#1 or PKCS#8), a wrong
// or broken key reported by reference and installation, never by content; neither the key nor an
// issued token appears in any response, log line, audit event or (unsealed) in Redis. Without a
// vault to seal tokens, nothing is issued.
import { generateKeyPairSync, createPrivateKey, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisKeys } from '../../../src/store/keys.js'
import { captureResponses, client, sessionBody, testBroker, type TestBroker } from '../../helper.js'
import { tempDir } from '../../support/broker-process.js'
import { githubWorld } from '../../support/github-setup.js'
import { arrives } from '../../support/bounded.js'

const CANARY = 'CANARYghkey0b9e7d1c'
let w: Awaited<ReturnType<typeof githubWorld>>
let t: TestBroker
let api: ReturnType<typeof client>
const responses: string[] = []

beforeAll(async () => {
  w = await githubWorld()
  t = await testBroker({ masterKey: randomBytes(32), yaml: { providers: w.providerYaml() } })
  api = client(t.app, t.keys)
  captureResponses(t.app, responses)
})
afterAll(async () => {
  await t.close()
  await w.fake.close()
})

async function putKey(value: string) {
  const heard = new Promise<void>((resolve) =>
    t.app.broker.vault!.onChange((p) => p === 'github/app-key' && resolve()),
  )
  const r = await t.app.inject({
    method: 'PUT',
    url: '/v1/vault/github/app-key',
    headers: t.as('ops'),
    payload: { value },
  })
  expect(r.statusCode, r.body).toBe(204)
  await arrives(heard, "the vault's change notification")
}
const request = (task: string) =>
  api.post('/v1/sessions', 'build-bot', sessionBody({ provider: 'github', task: { id: task } }))
const health = async () =>
  (await api.get('/v1/providers', 'ops')).body.providers.find((p: { name: string }) => p.name === 'github')

/** The base64 body of a PEM, in 40-character pieces: none may appear anywhere. */
const pieces = (pem: string) => {
  const body = pem
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .join('')
  return Array.from({ length: Math.floor(body.length / 40) }, (_, i) => body.slice(i * 40, i * 40 + 40))
}

describe('the GitHub App key in the vault', () => {
  it('rotates without a restart; failures name the reference and installation, never the key', async () => {
    const wrong = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString()
    await putKey(wrong)
    const refused = await request('K-1')
    expect(refused.status).toBe(503)
    expect(refused.body.message).toContain('GitHub refused the JWT of App 123456 for installation 4242')
    expect(await health()).toMatchObject({ ok: false })

    // The right key, as PKCS#8 this time: used at once, and health recovers.
    const pkcs8 = createPrivateKey(w.fake.privateKeyPem).export({ type: 'pkcs8', format: 'pem' }).toString()
    await putKey(pkcs8)
    const ok = await request('K-2')
    expect(ok.status).toBe(201)
    expect(await health()).toMatchObject({ ok: true, error: null })

    const broken = `-----BEGIN RSA PRIVATE KEY-----\n${CANARY}\n-----END RSA PRIVATE KEY-----\n`
    await putKey(broken)
    const bad = await request('K-3')
    expect(bad.status).toBe(503)
    expect(bad.body.message).toContain('the GitHub App key vault:github/app-key is not a PEM private key')

    await putKey(w.fake.privateKeyPem)
    const again = await request('K-4')
    expect(again.status).toBe(201)
    expect((await api.del(`/v1/sessions/${ok.body.session.id}`, 'ops')).status).toBe(200)
    await api.get('/v1/audit?limit=1000', 'ops')
    await t.app.inject({ method: 'GET', url: '/metrics' })

    const tokens = [ok, again].map((r) => r.body.grant.credentials.token as string)
    const secrets = [...pieces(w.fake.privateKeyPem), ...pieces(wrong), ...pieces(pkcs8), CANARY]
    const everything = [...responses, ...t.logs.lines, ...t.audit].join('\n')
    expect(t.logs.lines.some((l) => l.includes('vault:github/app-key'))).toBe(true)
    for (const s of [...secrets, 'PRIVATE KEY']) {
      const at = everything.indexOf(s)
      expect(at, everything.slice(Math.max(0, at - 200), at + 100)).toBe(-1)
    }
    // Tokens go to their agent in the grant, and nowhere else.
    const notResponses = [...t.logs.lines, ...t.audit].join('\n')
    for (const token of tokens) expect(notResponses).not.toContain(token)

    const redis = new Redis(t.redisUrl)
    try {
      let stored = ''
      for (const key of await redis.keys(redisKeys(t.prefix).pattern)) {
        const type = await redis.type(key)
        if (type === 'string') stored += await redis.get(key)
        else if (type === 'hash') stored += JSON.stringify(await redis.hgetall(key))
        else if (type === 'zset') stored += JSON.stringify(await redis.zrange(key, 0, -1))
        else if (type === 'stream') stored += JSON.stringify(await redis.xrange(key, '-', '+'))
      }
      expect(stored).toContain('sealed1.')
      for (const s of [...secrets, ...tokens]) expect(stored).not.toContain(s)
    } finally {
      redis.disconnect()
    }
  })
})

describe('without a vault', () => {
  it('issues nothing: a token kept to revoke it must be sealed', async () => {
    const dir = tempDir()
    const keyFile = join(dir, 'app.pem')
    writeFileSync(keyFile, w.fake.privateKeyPem)
    const yaml = w.providerYaml().replace('vault:github/app-key', `file:${keyFile}`)
    const plain = await testBroker({ yaml: { providers: yaml } })
    try {
      const before = w.fake.tokens.size
      const r = await client(plain.app, plain.keys).post(
        '/v1/sessions',
        'build-bot',
        sessionBody({ provider: 'github' }),
      )
      expect(r.status).toBe(503)
      expect(r.body.message).toContain('needs the vault: set AIRLOCK_MASTER_KEY')
      expect(w.fake.tokens.size).toBe(before)
    } finally {
      await plain.close()
    }
  })
})
