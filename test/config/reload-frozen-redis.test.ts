// Redis frozen (a private redis-server, SIGSTOPped) as a decision's write reaches it, while a
// reload tightens the policy. The write fails at the client's command timeout (the caller gets a
// 503), yet it waits in the frozen server's socket and lands when the server resumes: a session
// written after the decision counted as settled. The reload must finish, and leave no session the
// new policy forbids active. A decision whose write went unanswered says it may have been recorded;
// one Redis refused says nothing was decided.
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import type { SessionRecord } from '../../src/domain/session.js'
import { client, sessionBody, testBroker, testConfigYaml, type TestBroker } from '../helper.js'
import { arrives } from '../support/bounded.js'
import { deferred } from '../support/gated-provider.js'
import { NO_WRITE, tightened, TWO_NEEDED } from '../support/tightened.js'
import { redisServer, type RedisServer } from '../support/redis-server.js'

type Body = Record<string, any>

let redis: RedisServer
let t: TestBroker
let api: ReturnType<typeof client>
const events: Body[] = []

beforeAll(async () => {
  redis = await redisServer()
  t = await testBroker({
    redisUrl: redis.url,
    auditOut: (line) => {
      for (const l of line.split('\n').filter(Boolean)) events.push(JSON.parse(l) as Body)
    },
  })
  api = client(t.app, t.keys)
})
afterEach(async () => {
  vi.restoreAllMocks()
  redis?.pause(false)
  if (t) await reload()
})
afterAll(async () => {
  redis?.pause(false)
  await t?.close()
  await redis?.stop()
})

const reload = (edit: (yaml: string) => string = (y) => y) =>
  t.broker.reload(
    parseConfig(edit(testConfigYaml(t.prefix, t.keys)), { baseDir: '.', env: { REDIS_URL: t.redisUrl } }),
  )
const revokedWith = (id: string) =>
  events.find((e) => e.type === 'session.revoked' && e.session_id === id)?.details?.reason as
    string | undefined
const stored = (id: string) => t.broker.store.getSession(id)
/** Resolves once `id` is stored revoked (at once, or at the reload's retry if its pass failed). */
const revoked = (id: string) =>
  vi.waitFor(async () => expect((await stored(id))?.status).toBe('revoked'), {
    timeout: 10_000,
    interval: 50,
  })

/**
 * Freezes Redis as the next audit append writing a session `match` accepts is sent to it;
 * resolves with that session as written.
 */
function freezeOn(match: (rec: SessionRecord) => boolean): Promise<SessionRecord> {
  const store = t.broker.store
  const real = store.appendAudit.bind(store)
  const sent = deferred<SessionRecord>()
  let taken = false
  vi.spyOn(store, 'appendAudit').mockImplementation((...args) => {
    const creates = args[5]
    const rec = [...(creates?.sessions ?? []), ...(creates?.updates ?? [])].map((w) => w.rec).find(match)
    if (!taken && rec) {
      taken = true
      redis.pause(true)
      sent.resolve(rec)
    }
    return real(...args)
  })
  return sent.promise
}

describe('Redis frozen under a decision while a tightening reload runs', () => {
  // About 12 s: three command timeouts in a row, then the reload's 5 s retry.
  it('a grant answered 503 lands after the reload, which ends while Redis is frozen and revokes it', async () => {
    // A grant of the same profile first: the append then goes out alone (this process writes a
    // profile in a round trip of its own only when it has not lately, and a timed-out one would
    // keep the append from being sent at all).
    await api.issue('build-bot', { operation_class: 'write', task: { id: 'FROZEN-WARM' } })
    const tokens = t.app.broker.tokens
    const sign = tokens.sign.bind(tokens)
    const signed: string[] = []
    vi.spyOn(tokens, 'sign').mockImplementation(async (claims) => {
      const token = await sign(claims)
      signed.push(token)
      return token
    })
    const sent = freezeOn((r) => r.task.id === 'FROZEN-GRANT')
    const asked = api.post(
      '/v1/sessions',
      'build-bot',
      sessionBody({ operation_class: 'write', task: { id: 'FROZEN-GRANT' } }),
    )
    const { id } = await arrives(sent, 'the grant sent to Redis')
    const since = t.logs.lines.length
    const reloading = reload(tightened)
    // The append times out (2 s), then so does the read of the session to end it.
    const answer = await arrives(asked, 'the answer to the request')
    expect(answer.status).toBe(503)
    expect(answer.body.grant).toBeUndefined()
    // Every command of the reload times out too: it ends all the same, its revocations to retry.
    await arrives(reloading, 'the end of the reload while Redis is frozen')
    expect(t.logs.lines.slice(since).some((l) => l.includes('could not all be revoked; retrying'))).toBe(true)
    redis.pause(false)

    // The append was still in the frozen server's socket: the session landed active after its
    // 503, and the reload's retry revoked it.
    await revoked(id)
    expect(revokedWith(id)).toBe(NO_WRITE)
    expect(events.find((e) => e.type === 'session.revoked' && e.session_id === id)?.details?.from).toBe(
      'active',
    )
    expect(signed).toHaveLength(1)
    expect((await api.post('/v1/introspect', 'internal-api', { token: signed[0] })).body).toEqual({
      active: false,
    })
  }, 30_000)

  it('an approval answered 503 at the command timeout lands on resume, and the reload revokes it', async () => {
    const r = await api.post(
      '/v1/sessions',
      'other-bot',
      sessionBody({ environment: 'prod', task: { id: 'FROZEN-APPROVE' } }),
    )
    expect(r.body.session).toMatchObject({ status: 'pending_approval', approvals_required: 1 })
    const id = r.body.session.id as string
    const sent = freezeOn((rec) => rec.id === id)
    const approving = api.post(`/v1/sessions/${id}/approvals`, 'alice', { decision: 'approve' })
    await arrives(sent, 'the approval sent to Redis')
    const reloading = reload(tightened)
    const answer = await arrives(approving, 'the answer to the approval')
    expect(answer.status).toBe(503)
    // It may land yet (it does, on resume): the answer must not say that nothing was decided.
    expect(answer.body.message).toBe(
      `Redis did not answer in time, so the approval may or may not have been recorded: read the session (GET /v1/sessions/${id}) before trying again`,
    )
    redis.pause(false)
    await arrives(reloading, 'the end of the reload')

    await revoked(id)
    // Approved once after all (the write landed on resume), which the tightened policy refuses.
    expect((await stored(id))?.approvals.map((a) => a.by)).toEqual(['alice'])
    expect(revokedWith(id)).toBe(TWO_NEEDED)
  })

  it('an approval Redis refused outright (no replicas to write to) says nothing was decided', async () => {
    const r = await api.post(
      '/v1/sessions',
      'other-bot',
      sessionBody({ environment: 'prod', task: { id: 'REFUSED-APPROVE' } }),
    )
    const id = r.body.session.id as string
    const admin = new Redis(redis.url)
    try {
      await admin.config('SET', 'min-replicas-to-write', '1')
      const refused = await api.post(`/v1/sessions/${id}/approvals`, 'alice', { decision: 'approve' })
      expect(refused.status).toBe(503)
      expect(refused.body.message).toBe('the audit log cannot be written, so nothing was decided: retry')
      await admin.config('SET', 'min-replicas-to-write', '0')
      expect((await stored(id))?.approvals).toEqual([])
      const again = await api.post(`/v1/sessions/${id}/approvals`, 'alice', { decision: 'approve' })
      expect(again.status).toBe(200)
      expect(again.body.session.status).toBe('approved')
    } finally {
      await admin.config('SET', 'min-replicas-to-write', '0')
      admin.disconnect()
    }
  })
})
