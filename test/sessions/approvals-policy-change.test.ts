// A config reload while a request waits for approvals: the approvals it needs and who may decide it
// follow the policy in force, so a request is never approved with fewer approvals than its claim
// needs, and people are told plainly when the policy itself no longer allows it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { client, replicaWith, sessionBody, testBroker, type TestBroker } from '../helper.js'
import { testConfigYaml } from '../support/fixtures.js'

let t: TestBroker
let api: ReturnType<typeof client>
beforeAll(async () => {
  t = await testBroker()
  api = client(t.app, t.keys)
})
afterAll(async () => t.close())

type Body = Record<string, any>
const approve = (sid: string, who: string, decision = 'approve') =>
  api.post(`/v1/sessions/${sid}/approvals`, who, { decision })
const events = (sid: string) =>
  t.audit.map((l) => JSON.parse(l) as Body).filter((e) => e.session_id === sid && e.type !== undefined)

/** Runs `fn` with the test config edited by `edit` in force, then puts the original back. */
async function withConfig(edit: (yaml: string) => string, fn: () => Promise<void>) {
  const original = testConfigYaml(t.prefix, t.keys)
  const edited = edit(original)
  expect(edited).not.toBe(original)
  const before = t.broker.runtime().config
  await t.broker.reload(parseConfig(edited, { baseDir: '.', env: { REDIS_URL: t.redisUrl } }))
  try {
    await fn()
  } finally {
    await t.broker.reload(before)
  }
}

const PROD_READ = 'operation_classes: [read]\n    providers: ["*"]\n    approvals: 1'
const prodRead = async (task: string) => {
  const r = await api.post(
    '/v1/sessions',
    'other-bot',
    sessionBody({ environment: 'prod', task: { id: task } }),
  )
  expect(r.body.session).toMatchObject({ status: 'pending_approval', approvals_required: 1 })
  return r.body.session.id as string
}

describe('a reload while a request waits for approvals', () => {
  it('raising the approvals needed keeps the request pending until it has them, then it is claimed', async () => {
    const sid = await prodRead('RAISED-1')
    await withConfig(
      (y) => y.replace(PROD_READ, PROD_READ.replace('approvals: 1', 'approvals: 2')),
      async () => {
        const first = await approve(sid, 'alice')
        expect(first.status).toBe(200)
        expect(first.body.session).toMatchObject({ status: 'pending_approval', approvals_required: 2 })
        const second = await approve(sid, 'carol')
        expect(second.body.session).toMatchObject({ status: 'approved', approvals_required: 2 })
        const c = await api.post(`/v1/sessions/${sid}/grant`, 'other-bot')
        expect(c.status).toBe(200)
        expect(c.body.session.status).toBe('active')
      },
    )
    const trail = events(sid).map((e) => [e.type, e.details?.approvals, e.details?.approvals_required])
    expect(trail).toEqual([
      ['session.requested', undefined, 1],
      ['session.approval', 1, 2],
      ['session.approved', 2, 2],
      ['session.issued', undefined, undefined],
    ])
  })

  it('a replica whose policy no longer allows the request says so to approvers; they may still deny it', async () => {
    const sid = await prodRead('REFUSED-1')
    const refusal = `  - description: nobody reads prod this week
    effect: deny
    agents: ["*"]
    environments: [prod]
    operation_classes: [read]
    providers: ["*"]
audit:`
    // A reload here would end the request; a replica whose config is newer than the request
    // (one that has not reloaded everywhere yet) must refuse it on its own.
    const replica = await replicaWith(t, (y) => y.replace('audit:', refusal))
    const on = client(replica.app, replica.keys)
    try {
      const a = await on.post(`/v1/sessions/${sid}/approvals`, 'alice', { decision: 'approve' })
      expect(a.status).toBe(403)
      expect(a.body).toMatchObject({
        error: 'forbidden',
        message:
          'the policy no longer allows this request (denied by policy "nobody reads prod this week"), so it cannot be approved; deny it or let it expire',
      })
      const d = await on.post(`/v1/sessions/${sid}/approvals`, 'carol', { decision: 'deny' })
      expect(d.status).toBe(200)
      expect(d.body.session).toMatchObject({ status: 'denied', denied_by: 'carol' })
    } finally {
      await replica.close()
    }
  })

  it('an approval a reload stopped counting does not complete the request', async () => {
    const raised = (y: string) => y.replace(PROD_READ, PROD_READ.replace('approvals: 1', 'approvals: 2'))
    await withConfig(raised, async () => {
      const sid = await api
        .post('/v1/sessions', 'other-bot', sessionBody({ environment: 'prod', task: { id: 'OWNER-1' } }))
        .then((r) => r.body.session.id as string)
      expect((await approve(sid, 'alice')).body.session).toMatchObject({ status: 'pending_approval' })
      // alice now owns other-bot: her approval stops counting (bob, its owner when it was made,
      // still may not decide it).
      const ownerChanged = (y: string) =>
        raised(y).replace('other-bot, owner: bob', 'other-bot, owner: alice')
      await t.broker.reload(
        parseConfig(ownerChanged(testConfigYaml(t.prefix, t.keys)), {
          baseDir: '.',
          env: { REDIS_URL: t.redisUrl },
        }),
      )
      const second = await approve(sid, 'carol')
      expect(second.status).toBe(200)
      expect(second.body.session).toMatchObject({ status: 'pending_approval', approvals_required: 2 })
      const c = await api.post(`/v1/sessions/${sid}/grant`, 'other-bot')
      expect(c.status).toBe(409)
      expect(c.body).toMatchObject({
        error: 'approval_pending',
        message: `the request has 1 of 2 approvals; wait with GET /v1/sessions/${sid}?wait=60`,
      })
      // It can still be ended by a denial rather than waiting out its timeout.
      expect((await approve(sid, 'carol', 'deny')).body.session).toMatchObject({ status: 'denied' })
    })
  })
})
