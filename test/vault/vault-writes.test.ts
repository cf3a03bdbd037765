// Writes of one secret through the API, at the same time and from two replicas on one Redis: every
// write is stored as its own version, none refused, none lost, no version given twice. And a write
// the storage cannot take is a clear 503.
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, testBroker, type TestBroker } from '../helper.js'
import { tempDir } from '../support/broker-process.js'

describe('concurrent writes of one secret', () => {
  let a: TestBroker
  let b: TestBroker
  beforeAll(async () => {
    const masterKey = randomBytes(32)
    a = await testBroker({ masterKey })
    b = await testBroker({ masterKey, prefix: a.prefix, keys: a.keys })
  })
  afterAll(async () => {
    await b.close()
    await a.close()
  })

  const put = (t: TestBroker, value: string) =>
    t.app.inject({
      method: 'PUT',
      url: '/v1/vault/aws/broker',
      headers: t.as('ops'),
      payload: { value },
    })

  it('each write becomes a new version, whichever replica takes it', async () => {
    const writes = Array.from({ length: 8 }, (_, i) => put(i % 2 ? b : a, `value-${i}`))
    const codes = (await Promise.all(writes)).map((r) => r.statusCode)
    expect(codes).toEqual(Array(8).fill(204))
    const list = await client(a.app, a.keys).get('/v1/vault', 'ops')
    expect(list.body.secrets).toContainEqual(expect.objectContaining({ path: 'aws/broker', version: 8 }))
    const versions = [...a.audit, ...b.audit]
      .map((l) => JSON.parse(l) as { type: string; details: { version: number } })
      .filter((e) => e.type === 'vault.written')
      .map((e) => e.details.version)
      .sort((x, y) => x - y)
    expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
  })
})

describe('a vault file that cannot be written', () => {
  it('answers 503 saying the secret was not stored, and leaves the broker serving', async () => {
    const dir = join(tempDir(), 'vault')
    mkdirSync(dir)
    const t = await testBroker({
      yaml: { extra: `vault: { backend: file, file: ${JSON.stringify(join(dir, 'vault.json'))} }` },
      env: { AIRLOCK_MASTER_KEY: randomBytes(32).toString('base64') },
    })
    try {
      rmSync(dir, { recursive: true }) // the volume went away
      const r = await t.app.inject({
        method: 'PUT',
        url: '/v1/vault/aws/broker',
        headers: t.as('ops'),
        payload: { value: 'CANARY-value' },
      })
      expect(r.statusCode).toBe(503)
      expect(r.json()).toMatchObject({
        error: 'unavailable',
        message: expect.stringMatching(/^the vault cannot be reached; the secret was not stored/),
      })
      expect(r.body).not.toContain('CANARY-value')
      expect(t.audit.join('\n')).not.toContain('vault.written')
      expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200)
    } finally {
      await t.close()
    }
  })
})
