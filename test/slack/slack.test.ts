// The Slack side end to end: a real broker on a real Redis, the real @slack/web-api client pointed
// at a local server that speaks Slack's Web API, and interactions signed exactly as Slack signs them.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { sha256Hex } from '../../src/auth/apikeys.js'
import { client, sessionBody, testBroker, type TestBroker } from '../helper.js'
import {
  fakeSlack,
  interaction,
  signedForm,
  texts,
  type FakeSlack,
  type SlackCall,
} from '../support/fake-slack.js'

const TOKEN = `xoxb-canary-${randomBytes(12).toString('hex')}`
const SECRET = `canary-signing-${randomBytes(12).toString('hex')}`
const DAVE = 'ak_dave_not-listed-by-the-destructive-rule'
const FRANK = 'ak_frank_owner_without_a_role_000'
const FRANK_BOT = 'ak_frank_bot_agent_key_0000000000'
const yaml = (apiUrl: string) => ({
  slack: { apiUrl },
  extraHumans: [
    `  - { id: dave, roles: [approver], slack_user_id: U0DAVE, api_key_sha256: ${sha256Hex(DAVE)} }`,
    '  - { id: erin, roles: [operator], slack_user_id: U0ERIN }',
    // Owns an agent, and holds no role: may deny nothing, in Slack as over the API.
    `  - { id: frank, roles: [], slack_user_id: U0FRANK, api_key_sha256: ${sha256Hex(FRANK)} }`,
  ].join('\n'),
  extraAgents: `  - { id: frank-bot, owner: frank, api_key_sha256: ${sha256Hex(FRANK_BOT)} }`,
})

let slack: FakeSlack
let t: TestBroker
let api: ReturnType<typeof client>
beforeAll(async () => {
  slack = await fakeSlack({ token: TOKEN })
  t = await testBroker({
    yaml: yaml(slack.url),
    env: { SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SECRET },
    slackRetry: { baseMs: 50, maxMs: 400 },
  })
  api = client(t.app, { ...t.keys, dave: DAVE, frank: FRANK, 'frank-bot': FRANK_BOT })
})
afterAll(async () => {
  await t.close()
  await slack.close()
})

type Body = Record<string, any>
const events = (sid: string) => t.audit.map((l) => JSON.parse(l) as Body).filter((e) => e.session_id === sid)
const pending = async (over: Record<string, unknown> = {}, agent = 'other-bot') => {
  const r = await api.post('/v1/sessions', agent, sessionBody({ operation_class: 'destructive', ...over }))
  expect(r.status).toBe(202)
  return r.body.session as Body
}
const click = (o: { user: string; sid: string; deny?: boolean; timestamp?: number }) => {
  const { body, headers } = interaction({
    secret: SECRET,
    user: o.user,
    action: o.deny ? 'airlock_deny' : 'airlock_approve',
    value: o.sid,
    timestamp: o.timestamp,
  })
  return t.app.inject({ method: 'POST', url: '/slack/interactions', headers, payload: body })
}
const posted = (sid: string) =>
  slack.waitFor((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args['blocks']).includes(sid))
/** The ts of the message posted for a session. */
const tsOf = (sid: string) =>
  [...slack.messages.values()].find((m) => JSON.stringify(m.blocks).includes(sid))!.ts
const allText = (c: SlackCall) =>
  texts(c.args['blocks'])
    .map((x) => x.text)
    .join('\n')
/** The first chat.update of this message whose text matches. */
const updated = (ts: string, match: RegExp) =>
  slack.waitFor((c) => c.method === 'chat.update' && c.args['ts'] === ts && match.test(allText(c)))
const ephemeral = (user: string, match: RegExp) =>
  slack.waitFor(
    (c) => c.method === 'chat.postEphemeral' && c.args['user'] === user && match.test(c.args['text']),
  )
/** Session state and its audit trail, to show that something changed nothing. */
const snapshot = async (sid: string) => ({
  session: (await api.get(`/v1/sessions/${sid}`, 'ops')).body,
  events: events(sid).length,
})

describe('Slack: the two-person rule', () => {
  it('posts the request, keeps the message true through approvals, claim and revocation', async () => {
    const s = await pending({ justification: 'drop the orphaned volumes' })
    const post = await posted(s.id)
    expect(post.authed).toBe(true)
    expect(post.args['channel']).toBe('C0APPROVALS')
    const text = allText(post)
    for (const want of [
      'DESTRUCTIVE',
      'Agent: other-bot',
      'Owner: bob',
      'Environment: staging',
      'Operation: destructive (DESTRUCTIVE)',
      'Provider: internal-api',
      'TTL: 15m',
      'Task: JIRA-123',
      'Task description: rotate staging cache',
      'Justification: drop the orphaned volumes',
      '0 of 2 approvals',
    ])
      expect(text).toContain(want)
    const buttons = (post.args['blocks'] as Body[]).find((b) => b.type === 'actions')!.elements
    expect(buttons.map((b: Body) => [b.action_id, b.value])).toEqual([
      ['airlock_approve', s.id],
      ['airlock_deny', s.id],
    ])
    expect(buttons[0]).toMatchObject({ style: 'danger', confirm: expect.any(Object) })
    const ts = tsOf(s.id)

    const first = await click({ user: 'U0ALICE', sid: s.id })
    expect(first.statusCode).toBe(200)
    expect(first.body).toBe('')
    await updated(ts, /1 of 2 approvals: alice/)
    expect((await api.get(`/v1/sessions/${s.id}`, 'ops')).body.approvals).toEqual([
      { by: 'alice', via: 'slack', at: expect.any(String), comment: null },
    ])

    // The owner and the same human again: 200, an ephemeral reply saying why, nothing changes.
    const before = await snapshot(s.id)
    expect((await click({ user: 'U0BOB', sid: s.id })).statusCode).toBe(200)
    await ephemeral('U0BOB', /bob owns other-bot/)
    expect((await click({ user: 'U0ALICE', sid: s.id })).statusCode).toBe(200)
    await ephemeral('U0ALICE', /alice already approved this request/)
    expect((await click({ user: 'U0DAVE', sid: s.id })).statusCode).toBe(200)
    await ephemeral('U0DAVE', /dave is not an eligible approver/)
    expect((await click({ user: 'U0ERIN', sid: s.id })).statusCode).toBe(200)
    await ephemeral('U0ERIN', /erin does not have the approver role/)
    expect(await snapshot(s.id)).toEqual(before)

    expect((await click({ user: 'U0CAROL', sid: s.id })).statusCode).toBe(200)
    const done = await updated(ts, /Approved\. Waiting for other-bot to claim it by \d\d:\d\d UTC/)
    expect((done.args['blocks'] as Body[]).some((b) => b.type === 'actions')).toBe(false)
    expect(allText(done)).toContain('2 of 2 approvals: alice, carol')

    const claim = await api.post(`/v1/sessions/${s.id}/grant`, 'other-bot')
    expect(claim.status).toBe(200)
    const introspect = await api.post('/v1/introspect', 'ops', { token: claim.body.grant.token })
    expect(introspect.body).toMatchObject({ active: true, sid: s.id })
    const expires = new Date(claim.body.grant.expires_at).toISOString().slice(11, 16)
    await updated(ts, new RegExp(`Issued, expires ${expires} UTC`))

    await api.del(`/v1/sessions/${s.id}`, 'ops')
    await updated(ts, /Revoked by ops at \d\d:\d\d UTC/)
    // Every Slack call carried the bot token, and only one message was ever posted for the request.
    expect(slack.calls.every((c) => c.authed)).toBe(true)
    expect(
      slack.calls.filter((c) => c.method === 'chat.postMessage' && allText(c).includes(s.id)),
    ).toHaveLength(1)
  })

  it('a deny click ends the request and the message says who denied it', async () => {
    const s = await pending()
    const post = await posted(s.id)
    const ts = tsOf(s.id)
    expect(post.args['text']).toMatch(/Approval needed/)
    expect((await click({ user: 'U0CAROL', sid: s.id, deny: true })).statusCode).toBe(200)
    await updated(ts, /Denied by carol/)
    expect((await api.get(`/v1/sessions/${s.id}`, 'ops')).body).toMatchObject({
      status: 'denied',
      denied_by: 'carol',
    })
    // A late approve click is refused with a reason.
    expect((await click({ user: 'U0ALICE', sid: s.id })).statusCode).toBe(200)
    await ephemeral('U0ALICE', /the request is denied/)
  })

  it('the message follows an expiry by the sweeper', async () => {
    // A 1 s approval timeout on its own broker, same Redis, same fake Slack.
    const short = await testBroker({
      yaml: { ...yaml(slack.url), approvals: { timeout: '1s' } },
      env: { SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SECRET },
      sweeper: true,
      sweepEveryMs: 100,
    })
    try {
      const r = await client(short.app, short.keys).post(
        '/v1/sessions',
        'other-bot',
        sessionBody({ operation_class: 'destructive' }),
      )
      const sid = r.body.session.id
      await posted(sid)
      const ts = tsOf(sid)
      await updated(ts, /Expired: not enough approvals in time/)
    } finally {
      await short.close()
    }
  })
})

describe('Slack: requests that are not what they claim', () => {
  let s: Body
  beforeAll(async () => {
    s = await pending({ task: { id: 'SIG-1' } })
    await posted(s.id)
  })
  const send = (body: string, headers: Record<string, string>) =>
    t.app.inject({ method: 'POST', url: '/slack/interactions', headers, payload: body })

  it.each([
    [
      'a bad signature',
      () => {
        const c = interaction({
          secret: 'not-the-secret',
          user: 'U0ALICE',
          action: 'airlock_approve',
          value: s.id,
        })
        return send(c.body, c.headers)
      },
    ],
    [
      'a stale timestamp',
      () => click({ user: 'U0ALICE', sid: s.id, timestamp: Math.floor(Date.now() / 1000) - 310 }),
    ],
    [
      'a timestamp from the future',
      () => click({ user: 'U0ALICE', sid: s.id, timestamp: Math.floor(Date.now() / 1000) + 310 }),
    ],
    [
      'a replayed body with a new timestamp',
      () => {
        const c = interaction({ secret: SECRET, user: 'U0ALICE', action: 'airlock_approve', value: s.id })
        return send(c.body, {
          ...c.headers,
          'x-slack-request-timestamp': String(Math.floor(Date.now() / 1000) + 1),
        })
      },
    ],
    [
      'an altered body',
      () => {
        const c = interaction({ secret: SECRET, user: 'U0CAROL', action: 'airlock_approve', value: s.id })
        return send(c.body.replace('U0CAROL', 'U0ALICE'), c.headers)
      },
    ],
    [
      'no signature headers',
      () => {
        const c = interaction({ secret: SECRET, user: 'U0ALICE', action: 'airlock_approve', value: s.id })
        return send(c.body, { 'content-type': c.headers['content-type'] })
      },
    ],
  ])('%s is 401 and changes nothing', async (_n, call) => {
    const before = await snapshot(s.id)
    const r = await call()
    expect(r.statusCode).toBe(401)
    expect(r.json()).toMatchObject({ error: 'unauthenticated', request_id: expect.any(String) })
    expect(await snapshot(s.id)).toEqual(before)
  })

  it('the exact same signed request twice: the second is a replay (401)', async () => {
    const other = await pending({ task: { id: 'SIG-2' } })
    const c = interaction({ secret: SECRET, user: 'U0ALICE', action: 'airlock_approve', value: other.id })
    expect((await send(c.body, c.headers)).statusCode).toBe(200)
    const before = await snapshot(other.id)
    const again = await send(c.body, c.headers)
    expect(again.statusCode).toBe(401)
    expect(again.json().message).toMatch(/replay/)
    expect(await snapshot(other.id)).toEqual(before)
  })

  it.each([
    ['no payload field', 'action=approve'],
    ['a payload that is not JSON', 'payload=%7Bnot-json'],
    ['a payload without a type', `payload=${encodeURIComponent('{"user":{"id":"U0ALICE"}}')}`],
    [
      'block_actions without actions',
      `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: 'U0ALICE' }, actions: [] }))}`,
    ],
    [
      'an unknown action',
      `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: 'U0ALICE' }, actions: [{ action_id: 'airlock_sudo', value: 'ses_x' }] }))}`,
    ],
    [
      'a value that is no session id',
      `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: 'U0ALICE' }, actions: [{ action_id: 'airlock_approve', value: '../../admin' }] }))}`,
    ],
  ])('a malformed payload (%s) is 400 and changes nothing', async (_n, body) => {
    const before = await snapshot(s.id)
    const c = signedForm(SECRET, body)
    const r = await send(c.body, c.headers)
    expect(r.statusCode).toBe(400)
    expect(r.json()).toMatchObject({ error: 'invalid_request' })
    expect(await snapshot(s.id)).toEqual(before)
  })

  it('an unknown Slack user gets 200 and an ephemeral reply; nothing changes', async () => {
    const before = await snapshot(s.id)
    const r = await click({ user: 'U0MALLORY', sid: s.id })
    expect(r.statusCode).toBe(200)
    const reply = await ephemeral('U0MALLORY', /not linked to anyone in Airlock/)
    expect(reply.args['channel']).toBe('C0APPROVALS')
    expect(await snapshot(s.id)).toEqual(before)
  })

  it("an agent's owner with no role that decides may not deny in Slack, as over the API", async () => {
    const mine = await pending({}, 'frank-bot')
    const before = await snapshot(mine.id)
    const refused = await api.post(`/v1/sessions/${mine.id}/approvals`, 'frank', { decision: 'deny' })
    expect(refused.status).toBe(403)
    const r = await click({ user: 'U0FRANK', sid: mine.id, deny: true })
    expect(r.statusCode).toBe(200)
    await ephemeral(
      'U0FRANK',
      /frank has none of the roles that decide requests \(approver, operator, admin\)/,
    )
    expect(await snapshot(mine.id)).toEqual(before)
    expect((await api.get(`/v1/sessions/${mine.id}`, 'ops')).body.status).toBe('pending_approval')
  })

  it('a click on a session that does not exist gets an ephemeral reply', async () => {
    expect((await click({ user: 'U0ALICE', sid: 'ses_doesnotexist0000000000' })).statusCode).toBe(200)
    await ephemeral('U0ALICE', /no such session/)
  })

  it('a JSON body is refused (Slack sends forms); POST /v1/introspect still parses forms', async () => {
    const r = await t.app.inject({
      method: 'POST',
      url: '/slack/interactions',
      headers: { 'content-type': 'application/json' },
      payload: '{}',
    })
    expect(r.statusCode).toBe(415)
    // The answer names what Slack sends, not JSON (which this route refuses too).
    expect(r.json()).toMatchObject({
      error: 'unsupported_media_type',
      message: expect.stringMatching(/x-www-form-urlencoded/),
    })
    expect(r.json().message).not.toMatch(/as JSON/)
    const text = await t.app.inject({
      method: 'POST',
      url: '/slack/interactions',
      headers: { 'content-type': 'text/plain' },
      payload: 'payload=%7B%7D',
    })
    expect(text.statusCode).toBe(415)
    expect(text.json().message).toBe(r.json().message)
    const { grant } = await api.issue('build-bot')
    const form = await t.app.inject({
      method: 'POST',
      url: '/v1/introspect',
      headers: { ...t.as('ops'), 'content-type': 'application/x-www-form-urlencoded' },
      payload: `token=${grant.token}`,
    })
    expect(form.json()).toMatchObject({ active: true })
  })
})

describe('Slack: agent-written text', () => {
  it('is inert plain text, cut to fit, never in mrkdwn or the notification text', async () => {
    const inject = '<!channel> <https://evil.example|click> *bold* @here <@U0BOB> :skull:'
    const description = `${inject} ${'d'.repeat(500)}`.slice(0, 500)
    const justification = `${inject} ${'j'.repeat(1000)}`.slice(0, 1000)
    const s = await pending({ task: { id: 'https://evil.example/x', description }, justification })
    const post = await posted(s.id)
    // The fake Slack validated every limit (it answers invalid_blocks otherwise): the post was accepted.
    expect(slack.messages.size).toBeGreaterThan(0)
    const objects = texts(post.args['blocks'])
    expect(objects.every((o) => o.type === 'plain_text')).toBe(true)
    expect(JSON.stringify(post.args['blocks'])).not.toContain('"emoji":true')
    const withInjection = objects.filter((o) => o.text.includes('<!channel>'))
    expect(withInjection.map((o) => o.text)).toEqual([
      `Task description: ${description}`,
      `Justification: ${justification}`,
    ])
    expect(post.args['text']).not.toMatch(/channel|evil|bold/)
    for (const o of objects) expect(o.text.length).toBeLessThanOrEqual(3000)
  })
})

describe('Slack down', () => {
  it('the request still goes pending and is approvable over the API; the post is retried until Slack is back', async () => {
    const failuresBefore = await metric('airlock_slack_failures_total{method="chat.postMessage"}')
    await slack.down()
    let s: Body
    try {
      s = await pending({ task: { id: 'DOWN-1' } })
      const approved = await api.post(`/v1/sessions/${s.id}/approvals`, 'alice', { decision: 'approve' })
      expect(approved.status).toBe(200)
      // The failure is audited and counted.
      await vi.waitFor(() => expect(events(s.id).some((e) => e.type === 'slack.failed')).toBe(true), {
        timeout: 10_000,
        interval: 50,
      })
      expect(events(s.id).find((e) => e.type === 'slack.failed')?.details).toMatchObject({
        method: 'chat.postMessage',
        error: 'network',
        attempts: 1,
      })
      expect(await metric('airlock_slack_failures_total{method="chat.postMessage"}')).toBeGreaterThan(
        failuresBefore,
      )
    } finally {
      await slack.up()
    }
    // The retry reaches Slack once it is back, showing the state of now (one approval already).
    const post = await posted(s.id)
    expect(allText(post)).toContain('1 of 2 approvals: alice')
    expect(
      await metric('airlock_slack_calls_total{method="chat.postMessage",result="retry"}'),
    ).toBeGreaterThan(0)
    expect((await api.get(`/v1/sessions/${s.id}`, 'ops')).body.status).toBe('pending_approval')
  })
})

describe('Slack slow', () => {
  it('a request and a click are answered while Slack has not answered the post yet', async () => {
    const slow = slack.hold()
    let s: Body
    try {
      s = await pending({ task: { id: 'SLOW-1' } })
      await slow.arrived // the post reached Slack, which does not answer
      // The click is decided without Slack: 200 at once, the state changes, the message follows later.
      const r = await click({ user: 'U0ALICE', sid: s.id })
      expect(r.statusCode).toBe(200)
      expect((await api.get(`/v1/sessions/${s.id}`, 'ops')).body.approvals).toHaveLength(1)
    } finally {
      slow.release()
    }
    const post = await posted(s.id)
    const ts = tsOf(s.id)
    // The click landed while the post was in flight; the message catches up with an update.
    if (!allText(post).includes('1 of 2 approvals: alice')) await updated(ts, /1 of 2 approvals: alice/)
  })
})

describe('secrets', () => {
  it('the bot token and signing secret appear in no response, log line or audit event', async () => {
    const all = [...t.logs.lines, ...t.audit, JSON.stringify(slack.calls.map((c) => c.args))]
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' })
    all.push(metrics.body)
    for (const line of all) {
      expect(line).not.toContain(TOKEN)
      expect(line).not.toContain(SECRET)
    }
  })

  it('a wrong bot token: Slack says invalid_auth, the failure is audited without the token', async () => {
    const wrong = `xoxb-wrong-${randomBytes(8).toString('hex')}`
    const other = await testBroker({
      yaml: yaml(slack.url),
      env: { SLACK_BOT_TOKEN: wrong, SLACK_SIGNING_SECRET: SECRET },
      slackRetry: { baseMs: 60_000 },
    })
    try {
      const r = await client(other.app, other.keys).post(
        '/v1/sessions',
        'other-bot',
        sessionBody({ operation_class: 'destructive' }),
      )
      expect(r.status).toBe(202)
      const sid = r.body.session.id
      await vi.waitFor(
        () => expect(other.audit.some((l) => l.includes('slack.failed') && l.includes(sid))).toBe(true),
        { timeout: 10_000, interval: 50 },
      )
      const failed = other.audit.map((l) => JSON.parse(l)).find((e) => e.type === 'slack.failed')
      expect(failed.details).toMatchObject({ method: 'chat.postMessage', error: 'invalid_auth' })
      for (const line of [...other.logs.lines, ...other.audit]) expect(line).not.toContain(wrong)
      expect(slack.calls.some((c) => !c.authed)).toBe(true)
    } finally {
      await other.close()
    }
  })
})

async function metric(name: string): Promise<number> {
  const r = await t.app.inject({ method: 'GET', url: '/metrics' })
  const line = r.body.split('\n').find((l) => l.startsWith(`${name} `))
  return line ? Number(line.split(' ')[1]) : 0
}
