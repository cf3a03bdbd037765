// The github provider in a real broker (real Redis, vault, sweeper passes) against the fake GitHub:
// issuing exactly the environment's repositories and the class's permissions, TTL clamping,
// idempotency on the session, revocation on revoke and on expiry, rate limits, health.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Provider } from '../../../providers/types.js'
import { redisKeys } from '../../../src/store/keys.js'
import { client, sessionBody, testBroker, TestClock, type TestBroker } from '../../helper.js'
import { primaryRateLimit, secondaryRateLimit } from '../../support/fake-github.js'
import { githubWorld, INSTALLATION, REPOS } from '../../support/github-setup.js'
import { arrives } from '../../support/bounded.js'

const clock = new TestClock()
let w: Awaited<ReturnType<typeof githubWorld>>
let t: TestBroker
let api: ReturnType<typeof client>

type Grant = { token: string; expires_at: string; credentials: Record<string, any> }
const issue = async (over: Record<string, unknown> = {}) =>
  (await api.issue('build-bot', { provider: 'github', ...over })) as {
    session: Record<string, any>
    grant: Grant
  }
const tokenCalls = () => w.fake.calls.filter((c) => c.path.endsWith('/access_tokens'))
const deleteCalls = () => w.fake.calls.filter((c) => c.path === '/installation/token')
const live = (token: string) => w.fake.tokens.get(token)?.revokedAt === null
const github = (): Provider => t.broker.runtime().providers.get('github')!
const input = (sessionId: string, attempt = 'jti1') => ({
  sessionId,
  attempt,
  agent: 'build-bot',
  taskId: 'T-1',
  environment: 'staging',
  operationClass: 'read',
  ttlSeconds: 900,
  expiresAt: clock.now() + 900_000,
})

beforeAll(async () => {
  w = await githubWorld({ now: () => clock.now() })
  t = await testBroker({
    clock,
    masterKey: randomBytes(32),
    yaml: {
      providers: w.providerYaml() + w.providerYaml({ name: 'github-lost', installation: 999 }),
      maxTtl: '3h',
    },
  })
  api = client(t.app, t.keys)
  const heard = new Promise<void>((resolve) =>
    t.app.broker.vault!.onChange((p) => p === 'github/app-key' && resolve()),
  )
  const put = await t.app.inject({
    method: 'PUT',
    url: '/v1/vault/github/app-key',
    headers: t.as('ops'),
    payload: { value: w.fake.privateKeyPem },
  })
  expect(put.statusCode).toBe(204)
  await arrives(heard, "the vault's change notification")
})
afterAll(async () => {
  await t.close()
  await w.fake.close()
})

describe('github provider', () => {
  it("issues a token for exactly the environment's repositories and the class's permissions", async () => {
    const s = await issue()
    const c = s.grant.credentials
    expect(c['token']).toMatch(/^ghs_/)
    expect(c['repositories']).toEqual(REPOS.staging)
    expect(c['permissions']).toEqual({ contents: 'read', pull_requests: 'read', metadata: 'read' })
    expect(c['server_url']).toBe(w.fake.url)
    expect(Date.parse(c['expires_at'])).toBeLessThanOrEqual(Date.parse(s.grant.expires_at))
    const call = tokenCalls().at(-1)!
    expect(call.path).toBe(`/app/installations/${INSTALLATION}/access_tokens`)
    expect(call.body).toEqual({
      repositories: REPOS.staging,
      permissions: { contents: 'read', pull_requests: 'read' },
    })
    // The App JWT: issued a minute in the past, ten minutes of validity, the App as issuer.
    const nowSec = Math.floor(clock.now() / 1000)
    expect(call.claims).toEqual({ iss: String(w.fake.appId), iat: nowSec - 60, exp: nowSec + 540 })
    expect(live(c['token'])).toBe(true)

    // The session's handle holds the token sealed only.
    const redis = new Redis(t.redisUrl)
    try {
      const stored = String(await redis.get(redisKeys(t.prefix).session(s.session['id'])))
      expect(stored).toContain('token_sealed')
      expect(stored).not.toContain(c['token'])
    } finally {
      redis.disconnect()
    }
  })

  it("clamps a session above GitHub's hour; expires_at is the earlier of GitHub's and the session's", async () => {
    const r = await api.post(
      '/v1/sessions',
      'build-bot',
      sessionBody({ provider: 'github', environment: 'prod', ttl_seconds: 7200 }),
    )
    expect(r.status).toBe(202)
    expect(r.body.session.ttl_seconds).toBe(3600)
    const id = r.body.session.id as string
    expect((await api.post(`/v1/sessions/${id}/approvals`, 'bob', { decision: 'approve' })).status).toBe(200)
    w.fake.tokenLifetimeMs = 50 * 60_000 // GitHub's expiry is the earlier one
    const g = await api.post(`/v1/sessions/${id}/grant`, 'build-bot')
    w.fake.tokenLifetimeMs = 3600_000
    expect(g.status).toBe(200)
    const c = g.body.grant.credentials
    expect(c.repositories).toEqual(REPOS.prod)
    const githubExpiry = w.fake.tokens.get(c.token)!.expiresAt
    expect(Date.parse(c.expires_at)).toBe(githubExpiry)
    expect(Date.parse(g.body.grant.expires_at)).toBeGreaterThan(githubExpiry)

    const short = await issue({ ttl_seconds: 120 })
    expect(short.grant.credentials['expires_at']).toBe(short.grant.expires_at)
  })

  it('revoking ends the token at GitHub at once; a token GitHub already forgot counts as revoked', async () => {
    const s = await issue()
    const token = s.grant.credentials['token'] as string
    expect((await api.del(`/v1/sessions/${s.session['id']}`, 'build-bot')).body.session.status).toBe(
      'revoked',
    )
    expect(live(token)).toBe(false)
    expect(deleteCalls().at(-1)!.status).toBe(204)

    const gone = await issue()
    w.fake.tokens.get(gone.grant.credentials['token'])!.revokedAt = clock.now()
    expect((await api.del(`/v1/sessions/${gone.session['id']}`, 'ops')).status).toBe(200)
    expect(deleteCalls().at(-1)!.status).toBe(401)
    expect(await t.broker.revocations.size()).toBe(0)
  })

  it('expiry revokes the token too', async () => {
    const s = await issue({ ttl_seconds: 60 })
    clock.advance(61_000)
    await t.broker.sweepOnce()
    expect((await api.get(`/v1/sessions/${s.session['id']}`, 'ops')).body.status).toBe('expired')
    expect(live(s.grant.credentials['token'])).toBe(false)
  })

  it('is idempotent on the session: a second issue revokes the first token; leftovers are reaped', async () => {
    const a = await github().issue(input('ses_retried'))
    const b = await github().issue(input('ses_retried'))
    expect(live(a.credentials['token'] as string)).toBe(false)
    expect(live(b.credentials['token'] as string)).toBe(true)
    // Without the handle (issuing never finished), the provider's own record still revokes it.
    await github().revoke({ ...input('ses_retried'), handle: null })
    expect(live(b.credentials['token'] as string)).toBe(false)

    // Minted for a session the broker never activated (a crash): the reaper revokes it.
    const orphan = await github().issue(input('ses_orphan'))
    clock.advance(31_000) // the sweeper reaps every 30 s
    await t.broker.sweepOnce()
    expect(live(orphan.credentials['token'] as string)).toBe(false)
  })

  it('hands out nothing when GitHub grants more than was asked, and revokes it', async () => {
    const before = new Set(w.fake.tokens.keys())
    w.fake.tamper = (a) => (a['permissions'].issues = 'write')
    const r = await api.post('/v1/sessions', 'build-bot', sessionBody({ provider: 'github' }))
    w.fake.tamper = null
    expect(r.status).toBe(503)
    expect(r.body.message).toContain('GitHub granted more than was asked: permissions issues: write')
    const minted = [...w.fake.tokens.keys()].filter((k) => !before.has(k))
    expect(minted).toHaveLength(1)
    expect(live(minted[0]!)).toBe(false)
  })

  it("waits out GitHub's rate limits within rate_limit_wait, then answers 503", async () => {
    w.fake.answer('POST /app/installations/', primaryRateLimit(0), secondaryRateLimit(1))
    const before = tokenCalls().length
    const s = await issue()
    expect(
      tokenCalls()
        .slice(before)
        .map((c) => c.status),
    ).toEqual([403, 429, 201])
    expect(live(s.grant.credentials['token'])).toBe(true)

    // Still limited after the bounded attempts: 503, and nothing minted.
    const minted = w.fake.tokens.size
    w.fake.answer('POST /app/installations/', ...Array.from({ length: 4 }, () => primaryRateLimit(0)))
    const r = await api.post('/v1/sessions', 'build-bot', sessionBody({ provider: 'github' }))
    expect(r.status).toBe(503)
    expect(r.body.message).toMatch(/installation 4242: GitHub's rate limit holds/)
    // A wait longer than rate_limit_wait is not attempted.
    const calls = tokenCalls().length
    w.fake.answer('POST /app/installations/', secondaryRateLimit(120))
    const long = await api.post('/v1/sessions', 'build-bot', sessionBody({ provider: 'github' }))
    expect(long.status).toBe(503)
    expect(long.body.message).toContain('try again in 120s')
    expect(tokenCalls().length).toBe(calls + 1)
    expect(w.fake.tokens.size).toBe(minted)

    // Revocation waits out a rate limit too.
    w.fake.answer('DELETE /installation/token', primaryRateLimit(0))
    expect((await api.del(`/v1/sessions/${s.session['id']}`, 'ops')).status).toBe(200)
    expect(live(s.grant.credentials['token'])).toBe(false)
  })

  it('reports an unreachable installation by its id in /v1/providers and in the 503', async () => {
    const health = await api.get('/v1/providers', 'ops')
    const byName = (n: string) => health.body.providers.find((p: { name: string }) => p.name === n)
    expect(byName('github')).toMatchObject({ ok: true, error: null })
    expect(byName('github-lost')).toMatchObject({
      ok: false,
      error: expect.stringContaining('installation 999 of GitHub App 123456 was not found'),
    })
    const r = await api.post('/v1/sessions', 'build-bot', sessionBody({ provider: 'github-lost' }))
    expect(r.status).toBe(503)
    expect(r.body.message).toContain('installation 999')
  })
})
