// The repeat-decision rule on the memory store: with store.replica_acks, a decision whose write
// answered 503 (the primary holds it, too few replicas acknowledged it) is retried by the same
// human and answers 200 with the session as it stands, without a second audit event; another
// human or another decision keeps the usual rules. Without replica_acks a repeat stays a 409.
import { afterEach, describe, expect, it } from 'vitest'
import { alreadyDecided } from '../../src/approvals/service.js'
import { parseConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/log.js'
import { buildBroker, type RunningBroker } from '../../src/broker.js'
import { generateSigningKey } from '../../src/tokens/keys.js'
import { client, newKeys, sessionBody, testConfigYaml } from '../helper.js'
import { makeRec } from '../support/records.js'
import { landsUnacked } from '../support/unacked.js'

type Body = Record<string, any>
const brokers: RunningBroker[] = []
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close()
})

/** A broker on the memory store, as if store.replica_acks were `acks`. */
async function memoryBroker(acks: number) {
  const keys = newKeys()
  const config = parseConfig(testConfigYaml('airlock-test:repeat:', keys), {
    baseDir: process.cwd(),
    env: { REDIS_URL: 'redis://127.0.0.1:1' },
  })
  config.store = { ...config.store, redis: null, replicaAcks: acks }
  const audit: string[] = []
  const broker = await buildBroker(
    { config, allowMemoryStore: true, logger: createLogger({ level: 'silent' }) },
    {
      sweeper: false,
      auditOut: (line) => audit.push(...line.split('\n')),
      signingKey: await generateSigningKey('EdDSA'),
    },
  )
  brokers.push(broker)
  const api = client(broker.app, keys)
  /** The next audit append (a decision with its event) lands, then answers as if too few replicas acknowledged it. */
  const unackedOnce = () => landsUnacked(broker.store, 'appendAudit')
  const pending = async () => {
    // build-bot's destructive requests need two of bob and carol (alice owns it).
    const r = await api.post('/v1/sessions', 'build-bot', sessionBody({ operation_class: 'destructive' }))
    expect(r.status).toBe(202)
    return r.body.session as Body
  }
  const decide = (sid: string, who: string, decision: 'approve' | 'deny') =>
    api.post(`/v1/sessions/${sid}/approvals`, who, { decision })
  const events = (sid: string, type: string) =>
    audit.map((l) => JSON.parse(l) as Body).filter((e) => e.session_id === sid && e.type === type)
  return { unackedOnce, pending, decide, events }
}

describe('a repeated decision', () => {
  it('with replica_acks: the retry of a 503 approval answers 200, one audit event', async () => {
    const b = await memoryBroker(1)
    const s = await b.pending()
    b.unackedOnce()
    const first = await b.decide(s.id, 'bob', 'approve')
    expect(first.status).toBe(503)
    expect(first.body).toMatchObject({ error: 'unavailable', message: expect.stringMatching(/replicas/) })
    // The decision landed and was audited all the same.
    expect(b.events(s.id, 'session.approval')).toHaveLength(1)

    const again = await b.decide(s.id, 'bob', 'approve')
    expect(again.status).toBe(200)
    expect(again.body.session).toMatchObject({ status: 'pending_approval', approvals: [{ by: 'bob' }] })
    expect(b.events(s.id, 'session.approval')).toHaveLength(1)

    // The last approval, retried too, and then the usual rules for everyone else.
    b.unackedOnce()
    expect((await b.decide(s.id, 'carol', 'approve')).status).toBe(503)
    const approved = await b.decide(s.id, 'carol', 'approve')
    expect(approved.status).toBe(200)
    expect(approved.body.session.status).toBe('approved')
    expect(b.events(s.id, 'session.approved')).toHaveLength(1)
    expect((await b.decide(s.id, 'carol', 'deny')).status).toBe(409)
    expect((await b.decide(s.id, 'alice', 'deny')).status).toBe(409)
    expect((await b.decide(s.id, 'alice', 'approve')).status).toBe(403)
  })

  it('with replica_acks: the retry of a 503 denial answers 200; an approval after it is refused', async () => {
    const b = await memoryBroker(1)
    const s = await b.pending()
    b.unackedOnce()
    expect((await b.decide(s.id, 'carol', 'deny')).status).toBe(503)
    const again = await b.decide(s.id, 'carol', 'deny')
    expect(again.status).toBe(200)
    expect(again.body.session).toMatchObject({ status: 'denied', denied_by: 'carol' })
    expect(b.events(s.id, 'session.denied')).toHaveLength(1)
    const other = await b.decide(s.id, 'bob', 'deny')
    expect(other.status).toBe(409)
    expect(other.body.message).toMatch(/the request is denied, not pending approval/)
    expect((await b.decide(s.id, 'carol', 'approve')).status).toBe(409)
  })

  it('without replica_acks: approving twice stays a 409', async () => {
    const b = await memoryBroker(0)
    const s = await b.pending()
    expect((await b.decide(s.id, 'bob', 'approve')).status).toBe(200)
    const twice = await b.decide(s.id, 'bob', 'approve')
    expect(twice.status).toBe(409)
    expect(twice.body.message).toMatch(/bob already approved this request/)
  })

  it('matches only the same human and the same decision', () => {
    const now = Date.now()
    const approvedByBob = makeRec(now, { approvals: [{ by: 'bob', via: 'api', at: now, comment: null }] })
    expect(alreadyDecided(approvedByBob, 'bob', 'approve')).toBe(true)
    expect(alreadyDecided(approvedByBob, 'carol', 'approve')).toBe(false)
    expect(alreadyDecided(approvedByBob, 'bob', 'deny')).toBe(false)
    const deniedByCarol = makeRec(now, { status: 'denied', denied_by: 'carol', approvals: [] })
    expect(alreadyDecided(deniedByCarol, 'carol', 'deny')).toBe(true)
    expect(alreadyDecided(deniedByCarol, 'bob', 'deny')).toBe(false)
    expect(alreadyDecided(deniedByCarol, 'carol', 'approve')).toBe(false)
  })
})
