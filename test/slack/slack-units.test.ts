// The Block Kit renderer and the signature check on their own: every state's message, agent text at
// and far beyond its limits, and each way a signature can be wrong.
import { describe, expect, it } from 'vitest'
import type { SessionRecord } from '../../src/domain/index.js'
import { clip, renderRequest, type Block } from '../../src/slack/render.js'
import { slackSignature, verifySlackSignature } from '../../src/slack/signature.js'
import { blockProblem, texts } from '../support/fake-slack.js'

const NOW = Date.parse('2030-01-02T14:00:00Z')
const rec = (over: Partial<SessionRecord> = {}): SessionRecord => ({
  v: 1,
  id: 'ses_0123456789abcdefghij',
  status: 'pending_approval',
  agent: 'build-bot',
  owners: ['alice'],
  on_behalf_of: null,
  task: { id: 'JIRA-9', description: 'drop the old volumes' },
  environment: 'prod',
  operation_class: 'destructive',
  provider: 'aws-main',
  justification: 'cost cleanup',
  ttl_seconds: 900,
  created_at: NOW - 60_000,
  expires_at: NOW + 29 * 60_000,
  approvals_required: 2,
  approvals: [],
  eligible_approvers: ['bob', 'carol'],
  rule: 'anything destructive needs two engineers',
  denied_by: null,
  revoked_by: null,
  revoked_at: null,
  jti: null,
  handle: null,
  ...over,
})
const render = (over: Partial<SessionRecord> = {}, destructive = true) =>
  renderRequest(rec(over), { now: NOW, destructive })
const all = (blocks: Block[]) =>
  texts(blocks)
    .map((t) => t.text)
    .join('\n')
const approval = (by: string) => ({ by, via: 'slack' as const, at: NOW, comment: null })

describe('renderRequest', () => {
  it('a pending destructive request: every fact, 0 of 2, unmistakable, Approve and Deny carrying the id', () => {
    const m = render()
    expect(blockProblem(m.blocks)).toBeNull()
    expect(m.blocks[0]).toEqual({
      type: 'header',
      text: {
        type: 'plain_text',
        text: '⚠️ DESTRUCTIVE: build-bot requests destructive on prod',
        emoji: false,
      },
    })
    const text = all(m.blocks)
    for (const want of [
      'Agent: build-bot',
      'Owner: alice',
      'Environment: prod',
      'Operation: destructive (DESTRUCTIVE)',
      'Provider: aws-main',
      'TTL: 15m',
      'Task: JIRA-9',
      'Approvers: bob, carol',
      'Task description: drop the old volumes',
      'Justification: cost cleanup',
      '0 of 2 approvals',
      'Waiting for approval until 14:29 UTC',
    ])
      expect(text).toContain(want)
    const actions = m.blocks.find((b) => b.type === 'actions')
    expect(actions).toMatchObject({
      elements: [
        {
          action_id: 'airlock_approve',
          value: 'ses_0123456789abcdefghij',
          style: 'danger',
          confirm: expect.any(Object),
        },
        { action_id: 'airlock_deny', value: 'ses_0123456789abcdefghij' },
      ],
    })
    expect(m.text).toBe(
      'Approval needed: build-bot requests destructive on prod (aws-main), 0 of 2 approvals',
    )
  })

  it('a non-destructive request is not marked destructive and its Approve is the primary button', () => {
    const m = render({ operation_class: 'read', approvals_required: 1 }, false)
    expect(all(m.blocks)).not.toContain('DESTRUCTIVE')
    const approve = (m.blocks.find((b) => b.type === 'actions') as any).elements[0]
    expect(approve.style).toBe('primary')
    expect(approve.confirm).toBeUndefined()
  })

  it.each([
    ['one approval', { approvals: [approval('bob')] }, /1 of 2 approvals: bob/, true],
    [
      'approved',
      { status: 'approved', approvals: [approval('bob'), approval('carol')], expires_at: NOW + 600_000 },
      /2 of 2 approvals: bob, carol[\s\S]*Approved\. Waiting for build-bot to claim it by 14:10 UTC/,
      false,
    ],
    [
      'issued',
      {
        status: 'active',
        approvals: [approval('bob'), approval('carol')],
        jti: 'j',
        expires_at: NOW + 300_000,
      },
      /Issued, expires 14:05 UTC/,
      false,
    ],
    ['denied', { status: 'denied', denied_by: 'carol' }, /Denied by carol/, false],
    [
      'revoked',
      { status: 'revoked', revoked_by: 'ops', revoked_at: NOW - 60_000 },
      /Revoked by ops at 13:59 UTC/,
      false,
    ],
    ['timed out', { status: 'expired' }, /Expired: not enough approvals in time/, false],
    [
      'unclaimed',
      { status: 'expired', approvals: [approval('bob'), approval('carol')] },
      /Expired: approved but never claimed/,
      false,
    ],
    [
      'past its deadline, not yet swept',
      { expires_at: NOW - 1 },
      /Expired: not enough approvals in time/,
      false,
    ],
  ] as const)('%s', (_n, over, line, buttons) => {
    const m = render(over as Partial<SessionRecord>)
    expect(blockProblem(m.blocks)).toBeNull()
    expect(all(m.blocks)).toMatch(line)
    expect(m.blocks.some((b) => b.type === 'actions')).toBe(buttons)
  })

  it('agent-written text of 5,000 characters full of markup renders inert, cut to fit', () => {
    const evil = '<!channel> <https://evil.example|click> <@U0BOB> *bold* _it_ `code` :skull: &amp; '
    const long = (evil + 'x'.repeat(5000)).slice(0, 5000)
    const m = render({
      justification: long,
      task: { id: `${'T'.repeat(200)}<!here>`, description: `\u202Egnp.exe ${long}` },
    })
    expect(blockProblem(m.blocks)).toBeNull()
    const objects = texts(m.blocks)
    // Nothing is mrkdwn, nothing turns :codes: into emoji, the notification text holds no agent text.
    expect(objects.every((o) => o.type === 'plain_text')).toBe(true)
    expect(JSON.stringify(m.blocks)).not.toMatch(/"emoji":true|"type":"mrkdwn"|verbatim/)
    expect(m.text).not.toMatch(/evil|channel|here|skull/)
    const just = objects.find((o) => o.text.startsWith('Justification: '))!.text
    expect(just).toBe(`Justification: ${long.slice(0, 999)}…`)
    const desc = objects.find((o) => o.text.startsWith('Task description: '))!.text
    expect(desc).not.toContain('\u202E') // no right-to-left override to disguise text
    expect(desc.length).toBe('Task description: '.length + 500)
    const task = objects.find((o) => o.text.startsWith('Task: '))!.text
    expect(task).toBe(`Task: ${'T'.repeat(127)}…`)
    // The markup is there, as characters, only inside plain_text.
    expect(just).toContain('<!channel> <https://evil.example|click>')
  })

  it('direction marks of every script are taken out', () => {
    expect(clip('vol-\u061Cprod\u200E-\u200Fdb\u2067', 100)).toBe('vol-prod-db')
  })

  it('text that is only unsafe characters still yields a valid (non-empty) text object', () => {
    const m = render({ justification: '\u0000\u0007\u202E', task: { id: 'T', description: '' } })
    expect(blockProblem(m.blocks)).toBeNull()
  })

  it('a gateway action is shown as plain text: method, path, the GraphQL operation and its variables, cut to fit', () => {
    const action = {
      method: 'POST',
      path: '/',
      body: {
        query: 'mutation DeleteVolume($id: String!) { volumeDelete(volumeId: $id) } <@U0BOB> *bold*',
        variables: { id: 'vol-prod-1' },
        operationName: 'DeleteVolume',
      },
    }
    const m = render({ provider: 'railway', action })
    expect(blockProblem(m.blocks)).toBeNull()
    const text = all(m.blocks)
    expect(text).toContain('Action (approved once, exactly as shown): POST /')
    expect(text).toContain('volumeDelete(volumeId: $id) } <@U0BOB> *bold*')
    expect(text).toContain('"id": "vol-prod-1"')
    expect(text).toContain('Operation: DeleteVolume')
    expect(m.text).not.toContain('volumeDelete')
    const long = render({ action: { ...action, body: { query: 'x'.repeat(10_000) } } })
    expect(blockProblem(long.blocks)).toBeNull()
    expect(render().blocks.some((b) => JSON.stringify(b).includes('Action ('))).toBe(false)
  })

  it.each([
    [
      'a REST body that has a query field',
      { query: 'name=scratch-*', target: 'prod-db' },
      '"target": "prod-db"',
    ],
    [
      'a GraphQL body with fields besides query, variables and operationName',
      { query: '{ me { id } }', extensions: { persistedQuery: { sha256Hash: 'abc' } } },
      '"sha256Hash": "abc"',
    ],
    ['an operationName that is no string', { query: 'x', operationName: { toString: 1 } }, '"toString": 1'],
  ])('an action body is shown whole when it is not only a GraphQL request: %s', (_n, body, want) => {
    const m = render({ action: { method: 'POST', path: '/api', body } })
    expect(blockProblem(m.blocks)).toBeNull()
    expect(all(m.blocks)).toContain(want)
  })

  it.each([
    ['escapes decoded', '/%70rod/volumes/1', 'POST /%70rod/volumes/1 (decoded: /prod/volumes/1)'],
    ['a malformed escape as sent', '/api/%zz/1', 'POST /api/%zz/1\n'],
    ['the rest decoded past a malformed escape', '/%70rod/1?id=%zz', '(decoded: /prod/1?id=%zz)'],
    ['bytes that are no UTF-8 as sent', '/%E2%70rod?n=%C0', '(decoded: /%E2prod?n=%C0)'],
    ['decoded hidden characters as escapes', '/a%0A%09b%E2%80%8B', '(decoded: /a\\u000a\\u0009b\\u200b)'],
  ])('a percent-encoded path is shown with what the upstream decodes: %s', (_n, path, want) => {
    const text = all(render({ action: { method: 'POST', path, body: { id: 1 } } }).blocks)
    expect(text).toContain(want)
    if (!want.includes('decoded')) expect(text).not.toContain('decoded')
  })

  it('an action cut to fit says so, so padding cannot pass a call off as all of it', () => {
    // A long argument in the query pushes the variables (which say what is deleted) past the cut.
    const body = {
      query: `mutation Drop($id: ID!) { volumeDelete(id: $id, note: "${'x'.repeat(4000)}") }`,
      variables: { id: 'vol-prod-db' },
    }
    const text = all(render({ action: { method: 'POST', path: '/', body } }).blocks)
    expect(text).not.toContain('vol-prod-db')
    expect(text).toMatch(/Cut to fit: the call goes on past this point/)
    expect(text).not.toContain('exactly as shown')
    const short = all(render({ action: { method: 'POST', path: '/', body: { ...body, query: 'x' } } }).blocks)
    expect(short).toContain('vol-prod-db')
    expect(short).not.toMatch(/Cut to fit/)
  })
})

describe('clip', () => {
  it('keeps short text, cuts long text with a mark, never splits a surrogate pair', () => {
    expect(clip('hello', 5)).toBe('hello')
    expect(clip('hello!', 5)).toBe('hell…')
    expect(clip('abc😀def', 5)).toBe('abc…') // 😀 is two UTF-16 units: cut before it, not through it
    expect(clip('a\u0000b\tc\nd\u001b[31m', 50)).toBe('ab\tc\nd[31m')
    expect(clip('x'.repeat(5000), 3000)).toHaveLength(3000)
  })
})

describe('verifySlackSignature', () => {
  const secret = 'signing-secret'
  const body = 'payload=%7B%22type%22%3A%22block_actions%22%7D'
  const ts = String(Math.floor(NOW / 1000))
  const sig = slackSignature(secret, ts, body)
  const check = (h: { timestamp?: string; signature?: string }, b = body, now = NOW) =>
    verifySlackSignature(secret, { timestamp: h.timestamp, signature: h.signature }, b, now)

  it('an empty secret verifies nothing, not even a signature made with the empty key', () => {
    const forged = slackSignature('', ts, body)
    expect(verifySlackSignature('', { timestamp: ts, signature: forged }, body, NOW)).toEqual({
      ok: false,
      reason: 'no Slack signing secret is configured',
    })
  })

  it('matches the documented scheme: v0= hex HMAC-SHA256 of v0:timestamp:body', () => {
    expect(sig).toMatch(/^v0=[0-9a-f]{64}$/)
    expect(check({ timestamp: ts, signature: sig })).toEqual({ ok: true })
    // Within five minutes either way.
    expect(check({ timestamp: ts, signature: sig }, body, NOW + 300_000)).toEqual({ ok: true })
  })

  it.each([
    ['no timestamp', { signature: sig }, body, NOW, /missing/],
    ['no signature', { timestamp: ts }, body, NOW, /missing/],
    ['a malformed timestamp', { timestamp: '1e9', signature: sig }, body, NOW, /malformed/],
    ['a stale timestamp', { timestamp: ts, signature: sig }, body, NOW + 301_000, /stale/],
    ['a future timestamp', { timestamp: ts, signature: sig }, body, NOW - 301_000, /stale/],
    ['another secret', { timestamp: ts, signature: slackSignature('other', ts, body) }, body, NOW, /bad/],
    ['an altered body', { timestamp: ts, signature: sig }, `${body}x`, NOW, /bad/],
    [
      'a new timestamp on the old body',
      { timestamp: String(Number(ts) + 1), signature: sig },
      body,
      NOW,
      /bad/,
    ],
    ['a truncated signature', { timestamp: ts, signature: sig.slice(0, -1) }, body, NOW, /bad/],
    ['an uppercase signature', { timestamp: ts, signature: sig.toUpperCase() }, body, NOW, /bad/],
  ])('%s is refused', (_n, h, b, now, reason) => {
    const r = check(h, b, now)
    expect(r.ok).toBe(false)
    expect(r.ok === false && r.reason).toMatch(reason)
  })
})
