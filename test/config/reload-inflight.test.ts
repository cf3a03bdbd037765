// A decision taken under the old config whose write is still on its way when a reload swaps the
// new one in: the reload judges its session once the write has settled, so the session cannot
// outlive the reload. A reload with nothing in flight does not wait; one whose decision is stuck
// longer than the bound goes on without it, and judges that session once it is written.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import type { SessionWrite } from '../../src/store/types.js'
import { client, sessionBody, testBroker, testConfigYaml } from '../helper.js'
import { arrives } from '../support/bounded.js'
import { deferred, gatedProvider } from '../support/gated-provider.js'
import { NO_WRITE, tightened, TWO_NEEDED } from '../support/tightened.js'

type Body = Record<string, any>

/** A broker whose reloads wait at most `settleMs` for decisions in flight, and what it audits. */
async function setup(settleMs: number) {
  const events: Body[] = []
  const waiting: { match: (e: Body) => boolean; arrived: () => void }[] = []
  const t = await testBroker({
    reloadSettleMs: settleMs,
    auditOut: (line) => {
      for (const l of line.split('\n').filter(Boolean)) {
        const e = JSON.parse(l) as Body
        events.push(e)
        for (const w of waiting.filter((x) => x.match(e))) w.arrived()
      }
    },
  })
  const api = client(t.app, t.keys)
  /** Resolves when an event `match` accepts is audited (one audited already counts from `since`). */
  const audited = (match: (e: Body) => boolean, since = 0) => {
    const d = deferred()
    if (events.slice(since).some(match)) d.resolve()
    else waiting.push({ match, arrived: d.resolve })
    return d.promise
  }
  return {
    t,
    api,
    events,
    audited,
    revokedWith: (id: string) =>
      events.find((e) => e.type === 'session.revoked' && e.session_id === id)?.details?.reason as
        string | undefined,
    status: async (id: string) => (await api.get(`/v1/sessions/${id}`, 'ops')).body.status as string,
    introspect: async (token: string) =>
      (await api.post('/v1/introspect', 'internal-api', { token })).body.active as boolean,
    reload: (edit: (yaml: string) => string = (y) => y) =>
      t.broker.reload(
        parseConfig(edit(testConfigYaml(t.prefix, t.keys)), { baseDir: '.', env: { REDIS_URL: t.redisUrl } }),
      ),
    /**
     * Holds the next session write `match` accepts after its decision was taken, just before it
     * goes to the store (with its audit event), until `release`.
     */
    hold(match: (w: SessionWrite) => boolean) {
      const audit = t.app.broker.audit
      const real = audit.recordWith.bind(audit)
      const held = deferred()
      const release = deferred()
      let taken = false
      vi.spyOn(audit, 'recordWith').mockImplementation(async (w, ...evs) => {
        if (!taken && match(w)) {
          taken = true
          held.resolve()
          await release.promise
        }
        return real(w, ...evs)
      })
      return { held: held.promise, release: () => release.resolve() }
    },
    /** A pending request of other-bot to read prod (one approval needed). */
    async pendingProdRead(task: string) {
      const r = await api.post(
        '/v1/sessions',
        'other-bot',
        sessionBody({ environment: 'prod', task: { id: task } }),
      )
      expect(r.body.session).toMatchObject({ status: 'pending_approval', approvals_required: 1 })
      return r.body.session.id as string
    },
  }
}

const taskOf = (w: SessionWrite) => (w.create ?? w.update).rec.task.id

describe('a decision in flight during a tightening reload', () => {
  // Far above what any test here may take: a reload that waits for it fails the test.
  const BOUND = 60_000
  let s: Awaited<ReturnType<typeof setup>>
  beforeAll(async () => {
    s = await setup(BOUND)
  })
  afterEach(async () => {
    vi.restoreAllMocks()
    await s.reload()
  })
  afterAll(async () => s.t.close())

  it('an immediate grant decided before the reload is revoked by it once written', async () => {
    const hold = s.hold((w) => taskOf(w) === 'RACE-GRANT')
    const asked = s.api.post(
      '/v1/sessions',
      'build-bot',
      sessionBody({ operation_class: 'write', task: { id: 'RACE-GRANT' } }),
    )
    await hold.held
    const before = s.events.length
    const reloading = s.reload(tightened)
    // The new config is in force; the reload now waits for the grant's write.
    await arrives(
      s.audited((e) => e.type === 'config.reloaded', before),
      'the config.reloaded event',
    )
    hold.release()
    await arrives(reloading, 'the end of the reload')

    const granted = await asked
    expect(granted.status).toBe(201)
    const id = granted.body.session.id as string
    expect(await s.status(id)).toBe('revoked')
    expect(s.revokedWith(id)).toBe(NO_WRITE)
    expect(await s.introspect(granted.body.grant.token)).toBe(false)
  })

  it('an approval given before the reload that raised the approvals needed is revoked by it', async () => {
    const id = await s.pendingProdRead('RACE-APPROVE')
    const hold = s.hold((w) => w.update?.rec.id === id)
    const approving = s.api.post(`/v1/sessions/${id}/approvals`, 'alice', { decision: 'approve' })
    await hold.held
    const before = s.events.length
    const reloading = s.reload(tightened)
    await arrives(
      s.audited((e) => e.type === 'config.reloaded', before),
      'the config.reloaded event',
    )
    hold.release()
    await arrives(reloading, 'the end of the reload')

    expect((await approving).body.session.status).toBe('approved')
    expect(await s.status(id)).toBe('revoked')
    expect(s.revokedWith(id)).toBe(TWO_NEEDED)
  })

  it('waits for a grant to be written as issuing, not for its provider', async () => {
    const ext = gatedProvider()
    s.t.broker.runtime().providers.set('ext-api', ext.provider)
    const gate = ext.hold()
    const asked = s.api.post(
      '/v1/sessions',
      'build-bot',
      sessionBody({ operation_class: 'write', provider: 'ext-api', task: { id: 'RACE-EXT' } }),
    )
    const id = await gate.started
    await arrives(s.reload(tightened), 'the end of the reload')
    expect(s.revokedWith(id)).toBe(NO_WRITE.replace('internal-api', 'ext-api'))
    gate.release()
    expect((await asked).status).toBe(410)
  })

  it('a reload with no decision in flight does not wait', async () => {
    const { session } = await s.api.issue('build-bot', { operation_class: 'write', task: { id: 'IDLE' } })
    await arrives(s.reload(tightened), 'the end of the reload', 5_000)
    expect(s.revokedWith(session.id)).toBe(NO_WRITE)
  })
})

describe('a decision stuck longer than the bound', () => {
  let s: Awaited<ReturnType<typeof setup>>
  beforeAll(async () => {
    s = await setup(200)
  })
  afterEach(async () => {
    vi.restoreAllMocks()
    await s.reload()
  })
  afterAll(async () => s.t.close())

  it('does not hold the reload up; its session is revoked once written, with the reason', async () => {
    const hold = s.hold((w) => taskOf(w) === 'STUCK-GRANT')
    const asked = s.api.post(
      '/v1/sessions',
      'build-bot',
      sessionBody({ operation_class: 'write', task: { id: 'STUCK-GRANT' } }),
    )
    await hold.held
    // The reload goes on past the bound and judges the live sessions without this one.
    await arrives(s.reload(tightened), 'the end of the reload', 5_000)
    expect(s.t.logs.lines.some((l) => l.includes('still being written'))).toBe(true)
    hold.release()

    const granted = await asked
    expect(granted.status).toBe(201)
    const id = granted.body.session.id as string
    await arrives(
      s.audited((e) => e.type === 'session.revoked' && e.session_id === id),
      'the revocation of the late grant',
    )
    expect(s.revokedWith(id)).toBe(NO_WRITE)
    expect(await s.status(id)).toBe('revoked')
    expect(await s.introspect(granted.body.grant.token)).toBe(false)
  })

  it('an approval stuck past the bound is judged once written: too few approvals now', async () => {
    const id = await s.pendingProdRead('STUCK-APPROVE')
    const hold = s.hold((w) => w.update?.rec.id === id)
    const approving = s.api.post(`/v1/sessions/${id}/approvals`, 'alice', { decision: 'approve' })
    await hold.held
    // Still pending when the reload judges it: it would stand, collecting its second approval.
    await arrives(s.reload(tightened), 'the end of the reload', 5_000)
    expect(s.revokedWith(id)).toBeUndefined()
    hold.release()

    expect((await approving).body.session.status).toBe('approved')
    await arrives(
      s.audited((e) => e.type === 'session.revoked' && e.session_id === id),
      'the revocation of the late approval',
    )
    expect(s.revokedWith(id)).toBe(TWO_NEEDED)
  })
})
