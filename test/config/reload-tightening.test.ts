// A reload that tightens the policy without removing anything: every live session the new policy
// would refuse as it stands, or would now grant only with more approvals than it had, is revoked
// with the reason; sessions it still allows as they are, and every session after a reload that
// changes nothing or only loosens, are left alone.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { client, sessionBody, testBroker, testConfigYaml, type TestBroker } from '../helper.js'

let t: TestBroker
let api: ReturnType<typeof client>
beforeAll(async () => {
  t = await testBroker()
  api = client(t.app, t.keys)
})
afterAll(async () => t.close())
// Each test starts from the test config (putting it back only loosens, so it revokes nothing).
afterEach(async () => reload())

type Body = Record<string, any>
const STAGING = 'environments: [staging]\n    operation_classes: [read, write]'
const PROD_READ = 'operation_classes: [read]\n    providers: ["*"]\n    approvals: 1'

/** write made destructive: staging writes now need two approvals, staging reads none. */
const destructiveWrite = (yaml: string) =>
  yaml
    .replace('{ name: write }', '{ name: write, destructive: true }')
    .replace(STAGING, 'environments: [staging]\n    operation_classes: [read]')
    .replace(
      'policies:',
      `policies:
  - description: bots write staging with two engineers
    agents: ["*-bot"]
    environments: [staging]
    operation_classes: [write]
    providers: ["*"]
    approvals: 2`,
    )

/** Reloads the test config edited by `edit` (the unedited config when none). */
async function reload(edit: (yaml: string) => string = (y) => y) {
  const original = testConfigYaml(t.prefix, t.keys)
  await t.broker.reload(parseConfig(edit(original), { baseDir: '.', env: { REDIS_URL: t.redisUrl } }))
}

const status = async (id: string) => (await api.get(`/v1/sessions/${id}`, 'ops')).body.status as string
const introspect = async (token: string) =>
  (await api.post('/v1/introspect', 'internal-api', { token })).body.active as boolean
const revocations = () =>
  t.audit.map((l) => JSON.parse(l) as Body).filter((e) => e.type === 'session.revoked')
const reasonFor = (id: string) => revocations().find((e) => e.session_id === id)?.details?.reason

async function active(agent: string, over: Record<string, unknown>) {
  const { session, grant } = await api.issue(agent, over)
  return { id: session.id as string, token: grant.token }
}

async function pendingProdRead(task: string) {
  const r = await api.post(
    '/v1/sessions',
    'other-bot',
    sessionBody({ environment: 'prod', task: { id: task } }),
  )
  expect(r.body.session).toMatchObject({ status: 'pending_approval', approvals_required: 1 })
  return r.body.session.id as string
}

describe('a reload that tightens the policy', () => {
  it('revokes an active session its rule no longer covers, saying so; the rest stand', async () => {
    const write = await active('build-bot', { operation_class: 'write', task: { id: 'T-WRITE' } })
    const read = await active('build-bot', { operation_class: 'read', task: { id: 'T-READ' } })
    await reload((y) => y.replace(STAGING, 'environments: [staging]\n    operation_classes: [read]'))

    expect(await status(write.id)).toBe('revoked')
    expect(await introspect(write.token)).toBe(false)
    expect(revocations().find((e) => e.session_id === write.id)).toMatchObject({
      actor: 'airlock',
      details: {
        from: 'active',
        reason: 'the policy no longer allows build-bot write on staging with internal-api',
      },
    })
    expect(await status(read.id)).toBe('active')
    expect(await introspect(read.token)).toBe(true)
  })

  it('names the deny rule that now refuses a session, and ends a pending request it refuses', async () => {
    const s = await active('other-bot', { task: { id: 'T-DENY' } })
    const waiting = await pendingProdRead('T-DENY-PENDING')
    const deny = `  - description: nothing runs this week
    effect: deny
    agents: [other-bot]
    environments: ["*"]
    operation_classes: ["*"]
    providers: ["*"]
audit:`
    await reload((y) => y.replace('audit:', deny))
    expect(await status(s.id)).toBe('revoked')
    expect(reasonFor(s.id)).toBe(
      'the policy no longer allows other-bot read on staging with internal-api (denied by policy "nothing runs this week")',
    )
    expect(await status(waiting)).toBe('revoked')
    expect(reasonFor(waiting)).toBe(
      'the policy no longer allows other-bot read on prod with internal-api (denied by policy "nothing runs this week")',
    )
  })

  it('a class made destructive revokes the sessions of it granted with fewer than two approvals', async () => {
    const write = await active('build-bot', { operation_class: 'write', task: { id: 'T-DESTR' } })
    const read = await active('build-bot', { operation_class: 'read', task: { id: 'T-DESTR-READ' } })
    await reload(destructiveWrite)

    expect(await status(write.id)).toBe('revoked')
    expect(await introspect(write.token)).toBe(false)
    expect(reasonFor(write.id)).toBe(
      'operation class write now needs 2 approvals (it is destructive); this session had 0',
    )
    expect(await status(read.id)).toBe('active')
  })

  it('an approved, unclaimed session with fewer approvals than now needed is revoked; a pending one waits', async () => {
    const approved = await pendingProdRead('T-APPROVED')
    expect(
      (await api.post(`/v1/sessions/${approved}/approvals`, 'alice', { decision: 'approve' })).body.session
        .status,
    ).toBe('approved')
    const waiting = await pendingProdRead('T-WAITING')
    await reload((y) => y.replace(PROD_READ, PROD_READ.replace('approvals: 1', 'approvals: 2')))

    expect(await status(approved)).toBe('revoked')
    expect(reasonFor(approved)).toBe(
      'other-bot read on prod with internal-api now needs 2 approvals; this session had 1',
    )
    // Still collecting approvals: it now needs two, and stays pending until it has them.
    expect(await status(waiting)).toBe('pending_approval')
    expect(reasonFor(waiting)).toBeUndefined()
  })
})

describe('a reload that takes the approver role away', () => {
  it('revokes an approved session whose approvals no longer count', async () => {
    const id = await pendingProdRead('R-ROLE')
    await api.post(`/v1/sessions/${id}/approvals`, 'alice', { decision: 'approve' })
    await reload((y) =>
      y
        .replace('{ id: alice, roles: [approver]', '{ id: alice, roles: []')
        .replace(/approvers: \[alice, bob, carol\]/, 'approvers: [bob, carol]'),
    )
    expect(await status(id)).toBe('revoked')
    expect(reasonFor(id)).toBe(
      'other-bot read on prod with internal-api now needs 1 approval; this session had 1, 0 of them from approvers still eligible',
    )
  })
})

describe('a reload that leaves approvers without a way to act', () => {
  it('ends the requests nobody can approve now; sessions already approved stand', async () => {
    const id = await api.approved({ environment: 'staging', task: { id: 'U-ACTIVE' } })
    const c = await api.post(`/v1/sessions/${id}/grant`, 'build-bot')
    expect(c.body.session.status).toBe('active')
    const waiting = await api.post(
      '/v1/sessions',
      'build-bot',
      sessionBody({ operation_class: 'destructive', task: { id: 'U-WAITING' } }),
    )
    expect(waiting.body.session.status).toBe('pending_approval')
    // carol keeps her Slack id, but this broker has no Slack: she has no way to approve.
    await reload((y) =>
      y.replace(/(id: carol, roles: \[approver\], slack_user_id: U0CAROL), api_key_sha256: \w+/, '$1'),
    )
    expect(await status(id)).toBe('active')
    expect(await introspect(c.body.grant.token)).toBe(true)
    expect(await status(waiting.body.session.id)).toBe('revoked')
    expect(reasonFor(waiting.body.session.id)).toBe(
      'the policy no longer allows build-bot destructive on staging with internal-api (needs 2 approvals but only 1 eligible approver(s) exist for build-bot (carol has no API key, Slack id or console sign-in to approve with))',
    )
  })
})

describe('a reload that changes nothing, or only loosens the policy', () => {
  it('revokes nothing', async () => {
    const write = await active('build-bot', { operation_class: 'write', task: { id: 'L-WRITE' } })
    const waiting = await pendingProdRead('L-WAITING')
    const before = revocations().length
    await reload()
    await reload((y) => y.replace(PROD_READ, PROD_READ.replace('approvals: 1', 'approvals: 0')))
    await reload((y) =>
      y.replace(STAGING, 'environments: [staging, prod]\n    operation_classes: [read, write]'),
    )
    await reload()
    expect(revocations().length).toBe(before)
    expect(await status(write.id)).toBe('active')
    expect(await introspect(write.token)).toBe(true)
    expect(await status(waiting)).toBe('pending_approval')
  })
})
