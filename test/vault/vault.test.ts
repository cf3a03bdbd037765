// The vault: envelope encryption, both storage backends, the write-only API, signing keys kept
// and rotated in it, replicas sharing it, and the errors for a wrong key or a bad record.
import { SignJWT } from 'jose'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, inject, vi } from 'vitest'
import { StoreUnavailableError } from '../../src/errors.js'
import { parseMasterKey } from '../../src/config/sections/vault.js'
import { createSecretSource, SecretMissingError } from '../../src/secrets/source.js'
import {
  createSealer,
  masterKeyWrapper,
  open,
  seal,
  VaultOpenError,
  type KeyWrapper,
  type SealedRecord,
} from '../../src/vault/crypto.js'
import {
  fileVaultStorage,
  memoryVaultStorage,
  redisVaultStorage,
  type VaultStorage,
} from '../../src/vault/storage.js'
import { openVault, WrongMasterKeyError } from '../../src/vault/vault.js'
import { systemClock } from '../../src/clock.js'
import { parseConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/log.js'
import { buildBroker } from '../../src/broker.js'
import {
  captureResponses,
  client,
  deletePrefix,
  newKeys,
  TestClock,
  testBroker,
  testConfigYaml,
  type TestBroker,
} from '../helper.js'
import { tempDir } from '../support/broker-process.js'

const redisUrl = inject('redisUrl')
const wrapper = masterKeyWrapper(randomBytes(32))
const meta = { version: 1, updatedAt: new Date().toISOString(), updatedBy: 'test' }

describe('envelope encryption', () => {
  it('round-trips, with a fresh data key per secret', async () => {
    const a = await seal(wrapper, 'aws/broker', 's3cret', meta)
    const b = await seal(wrapper, 'aws/broker', 's3cret', meta)
    expect(a.ct).not.toBe(b.ct)
    expect(a.dk).not.toBe(b.dk)
    expect(JSON.stringify(a)).not.toContain('s3cret')
    expect(await open(wrapper, 'aws/broker', a)).toBe('s3cret')
  })

  const flip = (b64: string, at = 0) => {
    const buf = Buffer.from(b64, 'base64')
    buf[at] = (buf[at] as number) ^ 1
    return buf.toString('base64')
  }
  it.each<[string, (r: SealedRecord) => SealedRecord, string?]>([
    ['a changed ciphertext', (r) => ({ ...r, ct: flip(r.ct) })],
    ['a changed tag', (r) => ({ ...r, tag: flip(r.tag) })],
    ['a changed nonce', (r) => ({ ...r, iv: flip(r.iv) })],
    ['a changed wrapped data key', (r) => ({ ...r, dk: flip(r.dk, 40) })],
    ['a record moved to another path', (r) => ({ ...r, path: 'pg/prod' }), 'pg/prod'],
    ['a record claiming another path', (r) => r, 'pg/prod'],
  ])('%s does not open', async (_n, change, at = 'aws/broker') => {
    const rec = change(await seal(wrapper, 'aws/broker', 'value', meta))
    await expect(open(wrapper, at, rec)).rejects.toBeInstanceOf(VaultOpenError)
  })

  it('another master key does not open it', async () => {
    const rec = await seal(wrapper, 'x', 'value', meta)
    await expect(open(masterKeyWrapper(randomBytes(32)), 'x', rec)).rejects.toThrow(/cannot be opened/)
  })

  it('master keys must be base64 of 32 bytes', () => {
    expect(parseMasterKey(randomBytes(32).toString('base64'))).toHaveLength(32)
    expect(() => parseMasterKey('c2hvcnQ=')).toThrow('expected base64 of exactly 32 bytes')
    expect(() => parseMasterKey('not base64 at all!')).toThrow('expected base64 of exactly 32 bytes')
  })
})

const backends: [string, () => Promise<{ a: VaultStorage; b: VaultStorage; done: () => Promise<void> }>][] = [
  [
    'redis',
    async () => {
      const prefix = `airlock-test:${randomBytes(5).toString('hex')}:`
      const a = await redisVaultStorage(redisUrl, prefix)
      const b = await redisVaultStorage(redisUrl, prefix)
      return {
        a,
        b,
        done: async () => (await Promise.all([a.close(), b.close()]), await deletePrefix(redisUrl, prefix)),
      }
    },
  ],
  [
    'file',
    async () => {
      const file = join(tempDir(), 'vault.json')
      const a = await fileVaultStorage(file)
      const b = await fileVaultStorage(file)
      return { a, b, done: async () => void (await Promise.all([a.close(), b.close()])) }
    },
  ],
]

backends.push([
  'memory',
  async () => {
    const one = memoryVaultStorage() // one process: both "instances" share it
    return { a: one, b: one, done: async () => {} }
  },
])

describe('sealed values (provider handles)', () => {
  const sealer = createSealer(wrapper)
  it('round-trip only in their own context, untampered, under the same master key', async () => {
    const sealed = await sealer.seal('github:gh:ses_1', 'ghs_secret')
    expect(sealed).toMatch(/^sealed1\./)
    expect(sealed).not.toContain('ghs_secret')
    expect(await sealer.open('github:gh:ses_1', sealed)).toBe('ghs_secret')
    await expect(sealer.open('github:gh:ses_2', sealed)).rejects.toThrow(/cannot be opened/)
    const parts = sealed.split('.')
    parts[4] = Buffer.from('x').toString('base64url') + (parts[4] as string).slice(2)
    await expect(sealer.open('github:gh:ses_1', parts.join('.'))).rejects.toThrow(/cannot be opened/)
    const other = createSealer(masterKeyWrapper(randomBytes(32)))
    await expect(other.open('github:gh:ses_1', sealed)).rejects.toThrow(/cannot be opened/)
    // A vault path (no colon) is never a sealing context, so the two never share a wrapping.
    await expect(sealer.seal('aws/broker', 'x')).rejects.toThrow(/colon/)
  })
})

describe.each(backends)('%s vault storage', (_name, make) => {
  let s: Awaited<ReturnType<typeof make>>
  beforeAll(async () => {
    s = await make()
  })
  afterAll(async () => s.done())

  it('a vault on it: put, get, new versions, list metadata, delete', async () => {
    const v = await openVault({ storage: s.a, wrapper, clock: systemClock })
    expect(await v.put('pg/staging', 'postgres://a', 'ops')).toMatchObject({
      path: 'pg/staging',
      version: 1,
      updated_by: 'ops',
    })
    expect(await v.put('pg/staging', 'postgres://b', 'ops')).toMatchObject({ version: 2 })
    expect(await v.get('pg/staging')).toBe('postgres://b')
    expect(await v.put('pg/staging', 'x', 'ops', 1)).toBeNull() // stale expected version
    const list = await v.list()
    expect(list.map((m) => m.path)).toContain('pg/staging')
    expect(JSON.stringify(list)).not.toContain('postgres://')
    expect(await v.delete('pg/staging', 'ops')).toBe(true)
    expect(await v.delete('pg/staging', 'ops')).toBe(false)
    await expect(v.get('pg/staging')).rejects.toBeInstanceOf(SecretMissingError)
    expect(await v.version('pg/staging')).toBe(0)
    expect((await v.list()).map((m) => m.path)).not.toContain('pg/staging')
    // Written again, it goes on from the deleted version: no version names two ciphertexts.
    expect(await v.put('pg/staging', 'postgres://c', 'ops', 0)).toMatchObject({ version: 3 })
    expect(await v.get('pg/staging')).toBe('postgres://c')
  })

  it('a second instance on the same storage reads what the first wrote, and sees rotations', async () => {
    const one = await openVault({ storage: s.a, wrapper, clock: systemClock })
    const two = await openVault({ storage: s.b, wrapper, clock: systemClock })
    await one.put('slack/bot', 'xoxb-1', 'ops')
    expect(await two.get('slack/bot')).toBe('xoxb-1')
    await one.put('slack/bot', 'xoxb-2', 'ops')
    expect(await two.get('slack/bot')).toBe('xoxb-2')
  })

  it('a read opening a secret while it is deleted and written again leaves no stale value behind', async () => {
    // A wrapper whose unwrap can be held, as a round trip to a key service would be.
    let gate: Promise<void> | null = null
    const held: KeyWrapper = {
      id: wrapper.id,
      wrap: (k, c) => wrapper.wrap(k, c),
      unwrap: async (w, c) => {
        if (gate) await gate
        return wrapper.unwrap(w, c)
      },
    }
    const v = await openVault({ storage: s.a, wrapper: held, clock: systemClock })
    await v.put('aws/rotated', 'OLD-key', 'ops')
    let release = () => {}
    gate = new Promise<void>((r) => (release = r))
    const inFlight = v.get('aws/rotated')
    // Deleted and written again (the versions go on: this is version 2).
    expect(await v.delete('aws/rotated', 'ops')).toBe(true)
    expect(await v.put('aws/rotated', 'NEW-key', 'ops')).toMatchObject({ version: 2 })
    gate = null
    release()
    expect(await inFlight).toBe('OLD-key') // it began before the change
    expect(await v.get('aws/rotated')).toBe('NEW-key')
  })

  it('the wrong master key is refused at open, not an empty vault', async () => {
    await openVault({ storage: s.a, wrapper, clock: systemClock })
    await expect(
      openVault({ storage: s.b, wrapper: masterKeyWrapper(randomBytes(32)), clock: systemClock }),
    ).rejects.toThrow(WrongMasterKeyError)
    await expect(
      openVault({ storage: s.b, wrapper: masterKeyWrapper(randomBytes(32)), clock: systemClock }),
    ).rejects.toThrow('the master key does not open the vault')
  })

  it('a corrupt record names its path and does not crash', async () => {
    const v = await openVault({ storage: s.a, wrapper, clock: systemClock })
    await v.put('corrupt/me', 'value', 'ops')
    const rec = (await s.a.get('corrupt/me')) as SealedRecord
    await s.a.put(
      { ...rec, version: rec.version + 1, ct: Buffer.from('garbage').toString('base64') },
      rec.version,
    )
    await expect(v.get('corrupt/me')).rejects.toThrow('vault secret corrupt/me cannot be opened')
  })
})

describe('file storage', () => {
  it('an unreadable file is a clear store error', async () => {
    const file = join(tempDir(), 'vault.json')
    writeFileSync(file, '{ not json')
    const s = await fileVaultStorage(file)
    await expect(s.get('x')).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(s.list()).rejects.toThrow(/vault file .* cannot be read/)
  })
})

describe('the vault API', () => {
  const CANARY = `canary-${randomBytes(12).toString('hex')}`
  let t: TestBroker
  let api: ReturnType<typeof client>
  const responses: string[] = []
  beforeAll(async () => {
    t = await testBroker({ masterKey: randomBytes(32) })
    api = client(t.app, t.keys)
    captureResponses(t.app, responses)
  })
  afterAll(async () => t.close())

  const put = (path: string, body: unknown, who = 'ops') =>
    t.app.inject({
      method: 'PUT',
      url: `/v1/vault/${path}`,
      headers: t.as(who as 'ops'),
      payload: body as object,
    })

  it('admins write secrets; only metadata ever comes back; writes are audited without the value', async () => {
    expect((await put('aws/broker', { value: CANARY })).statusCode).toBe(204)
    expect((await put('aws/broker', { value: `${CANARY}-2` })).statusCode).toBe(204)
    const list = await api.get('/v1/vault', 'ops')
    expect(list.body.secrets).toContainEqual({
      path: 'aws/broker',
      version: 2,
      updated_at: expect.any(String),
      updated_by: 'ops',
    })
    expect(list.body.secrets.map((s: { path: string }) => s.path)).toContain('airlock/signing-keys')
    const events = t.audit.map((l) => JSON.parse(l)).filter((e) => e.type === 'vault.written')
    expect(events.map((e) => e.details)).toEqual([
      { path: 'aws/broker', version: 1 },
      { path: 'aws/broker', version: 2 },
    ])
    // The broker's own code reads the current value through the secret source.
    const source = createSecretSource({ baseDir: '.', env: {}, vault: t.app.broker.vault })
    expect(await source.resolve('vault:aws/broker')).toBe(`${CANARY}-2`)
    expect((await api.del('/v1/vault/aws/broker', 'ops')).status).toBe(204)
    expect((await api.del('/v1/vault/aws/broker', 'ops')).body.error).toBe('not_found')
    await expect(source.resolve('vault:aws/broker')).rejects.toThrow('vault secret aws/broker does not exist')
  })

  it.each([
    ['airlock/signing-keys', { value: 'x' }, 403, 'forbidden'],
    ['airlock/anything', { value: 'x' }, 403, 'forbidden'],
    ['bad path', { value: 'x' }, 400, 'invalid_request'],
    ['a//b', { value: 'x' }, 400, 'invalid_request'],
    ['a/.hidden', { value: 'x' }, 400, 'invalid_request'],
    ['a/b%20c', { value: 'x' }, 400, 'invalid_request'],
    ['ok/path', {}, 400, 'invalid_request'],
    ['ok/path', { value: '' }, 400, 'invalid_request'],
    ['ok/path', { value: 5 }, 400, 'invalid_request'],
    ['ok/path', { value: 'x', extra: 1 }, 400, 'invalid_request'],
  ])('PUT %s %j -> %i', async (path, body, status, code) => {
    const r = await put(path.includes('%') ? path : encodeURI(path), body)
    expect(r.statusCode).toBe(status)
    expect(r.json().error).toBe(code)
  })

  it('a write whose audit event cannot be stored answers 503 saying the change stands', async () => {
    vi.spyOn(t.app.broker.store, 'appendAudit').mockRejectedValueOnce(
      new StoreUnavailableError('Redis audit append failed: connection reset'),
    )
    const r = await put('unaudited/x', { value: 'v' })
    expect(r.statusCode).toBe(503)
    expect(r.json()).toMatchObject({
      error: 'unavailable',
      message: expect.stringMatching(
        /unaudited\/x was stored as version 1, but the audit log cannot be written/,
      ),
    })
    expect((await api.get('/v1/vault', 'ops')).body.secrets.map((s: { path: string }) => s.path)).toContain(
      'unaudited/x',
    )
  })

  it('reserved paths cannot be deleted; non-admins get 403', async () => {
    expect((await api.del('/v1/vault/airlock/signing-keys', 'ops')).body.error).toBe('forbidden')
    expect((await put('x/y', { value: 'v' }, 'bob')).json().error).toBe('forbidden')
    expect((await api.get('/v1/vault', 'build-bot')).body.error).toBe('forbidden')
    expect((await api.get('/v1/vault', null)).body.error).toBe('unauthenticated')
  })

  it('the canary never appears in a response, log line or audit event', async () => {
    await put('canary/path', { value: CANARY })
    await put('airlock/x', { value: CANARY })
    await put('canary/path', { value: CANARY, extra: CANARY })
    await api.get('/v1/vault', 'ops')
    await api.get('/v1/audit?limit=1000', 'ops')
    const everything = [...responses, ...t.logs.lines, ...t.audit].join('\n')
    expect(responses.length).toBeGreaterThan(5)
    expect(everything).not.toContain(CANARY)
  })
})

describe('signing keys in the vault', () => {
  it('rotation keeps old tokens valid until they expire, then drops the retired key', async () => {
    const clock = new TestClock()
    const t = await testBroker({ masterKey: randomBytes(32), clock })
    try {
      const api = client(t.app, t.keys)
      const oldKey = t.app.broker.tokens.activeKey()
      const before = await api.issue('build-bot')
      const rotated = await api.post('/v1/keys/rotate', 'ops')
      expect(rotated.status).toBe(200)
      expect(rotated.body.previous).toBe(oldKey.kid)
      expect(rotated.body.kid).not.toBe(oldKey.kid)
      const jwks = (await api.get('/.well-known/jwks.json', null)).body.keys.map(
        (k: { kid: string }) => k.kid,
      )
      expect(jwks.sort()).toEqual([oldKey.kid, rotated.body.kid].sort())
      expect(
        (await api.post('/v1/introspect', 'internal-api', { token: before.grant.token })).body.active,
      ).toBe(true)
      const after = await api.issue('build-bot')
      expect(
        JSON.parse(Buffer.from(after.grant.token.split('.')[0] as string, 'base64url').toString()).kid,
      ).toBe(rotated.body.kid)

      // A token signed with the retired key for a live session still verifies during the window...
      const resign = async (token: string) => {
        const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString())
        return new SignJWT(claims)
          .setProtectedHeader({ alg: 'EdDSA', kid: oldKey.kid, typ: 'at+jwt' })
          .sign(oldKey.privateKey)
      }
      expect(
        (await api.post('/v1/introspect', 'internal-api', { token: await resign(after.grant.token) })).body
          .active,
      ).toBe(true)

      // ...and not once every token it could have signed has expired (max_ttl 1h + 1 min skew).
      clock.advance(3600_000 + 61_000)
      const late = await api.issue('build-bot')
      const jwksLate = (await api.get('/.well-known/jwks.json', null)).body.keys.map(
        (k: { kid: string }) => k.kid,
      )
      expect(jwksLate).toEqual([rotated.body.kid])
      expect(
        (await api.post('/v1/introspect', 'internal-api', { token: await resign(late.grant.token) })).body,
      ).toEqual({ active: false })
      expect(
        (await api.post('/v1/introspect', 'internal-api', { token: late.grant.token })).body.active,
      ).toBe(true)
    } finally {
      await t.close()
    }
  })

  it('a reload that raises tokens.max_ttl keeps retired keys for the longer window', async () => {
    const clock = new TestClock()
    const t = await testBroker({ masterKey: randomBytes(32), clock })
    try {
      const api = client(t.app, t.keys)
      const longer = testConfigYaml(t.prefix, t.keys)
        .replace('max_ttl: 1h', 'max_ttl: 3h')
        .replace('max_ttl: 30m', 'max_ttl: 3h')
      const next = parseConfig(longer, { baseDir: '.', env: { REDIS_URL: t.redisUrl } })
      next.vault = t.broker.runtime().config.vault
      await t.broker.reload(next)
      const signedBefore = t.app.broker.tokens.activeKey().kid
      const long = await api.issue('build-bot', { ttl_seconds: 7200 })
      expect((await api.post('/v1/keys/rotate', 'ops')).body.previous).toBe(signedBefore)
      // Past the old window (1h + 1 min), inside the new one: the token still verifies.
      clock.advance(3600_000 + 61_000)
      await api.post('/v1/keys/rotate', 'ops')
      const jwks = (await api.get('/.well-known/jwks.json', null)).body.keys.map(
        (k: { kid: string }) => k.kid,
      )
      expect(jwks).toContain(signedBefore)
      expect(
        (await api.post('/v1/introspect', 'internal-api', { token: long.grant.token })).body,
      ).toMatchObject({
        active: true,
      })
    } finally {
      await t.close()
    }
  })

  it('rotates on the rotate_every schedule, audited', async () => {
    const clock = new TestClock()
    const t = await testBroker({ masterKey: randomBytes(32), clock })
    try {
      const first = t.app.broker.tokens.activeKey().kid
      await t.broker.sweepOnce()
      expect(t.app.broker.tokens.activeKey().kid).toBe(first)
      clock.advance(24 * 3600_000 + 1000)
      await t.broker.sweepOnce()
      expect(t.app.broker.tokens.activeKey().kid).not.toBe(first)
      const e = t.audit.map((l) => JSON.parse(l)).find((x) => x.type === 'keys.rotated')
      expect(e.details).toMatchObject({ previous: first, scheduled: true })
    } finally {
      await t.close()
    }
  })

  it('replicas share the keys: one generates them, the other signs and verifies with them', async () => {
    const masterKey = randomBytes(32)
    const a = await testBroker({ masterKey })
    const b = await testBroker({ masterKey, prefix: a.prefix, keys: a.keys })
    try {
      expect(b.app.broker.tokens.activeKey().kid).toBe(a.app.broker.tokens.activeKey().kid)
      const fromB = await client(b.app, b.keys).issue('build-bot')
      expect(
        (await client(a.app, a.keys).post('/v1/introspect', 'internal-api', { token: fromB.grant.token }))
          .body.active,
      ).toBe(true)
      // A rotation on one replica reaches the other through the vault's change notification.
      const r = await client(a.app, a.keys).post('/v1/keys/rotate', 'ops')
      await vi.waitFor(() => expect(b.app.broker.tokens.activeKey().kid).toBe(r.body.kid), {
        timeout: 5000,
        interval: 20,
      })
      // A secret written through one replica is what the other resolves.
      await a.app.inject({
        method: 'PUT',
        url: '/v1/vault/team/token',
        headers: a.as('ops'),
        payload: { value: 'v1' },
      })
      const src = createSecretSource({ baseDir: '.', env: {}, vault: b.app.broker.vault })
      expect(await src.resolve('vault:team/token')).toBe('v1')
      await a.app.inject({
        method: 'PUT',
        url: '/v1/vault/team/token',
        headers: a.as('ops'),
        payload: { value: 'v2' },
      })
      expect(await src.resolve('vault:team/token')).toBe('v2')
    } finally {
      await b.broker.close()
      await a.close()
    }
  })

  it('a broker with another master key refuses to start on the same vault', async () => {
    const a = await testBroker({ masterKey: randomBytes(32) })
    try {
      await expect(
        testBroker({ masterKey: randomBytes(32), prefix: a.prefix, keys: a.keys }),
      ).rejects.toThrow('the master key does not open the vault')
    } finally {
      await a.close()
    }
  })

  it('without a signing key or a master key, the broker says what is missing', async () => {
    const config = parseConfig(testConfigYaml('airlock-test:nokey:', newKeys()), {
      baseDir: '.',
      env: { REDIS_URL: redisUrl },
    })
    await expect(
      buildBroker({ config, logger: createLogger({ level: 'silent' }) }, { sweeper: false }),
    ).rejects.toThrow(
      'no signing key: set tokens.signing_key, or give the vault a master key (AIRLOCK_MASTER_KEY)',
    )
  })
})
