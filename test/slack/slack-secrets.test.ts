// The Slack signing secret and bot token as `vault:` references, against a real `airlock serve`:
// missing at start, written later, after a SIGHUP reload, deleted again. A click signed with an
// empty key is never accepted; one signed with the real secret is, once the broker has it.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest'
import { deletePrefix, newKeys, sessionBody, testConfigYaml } from '../helper.js'
import { freePort, startBrokerProcess, tempDir, type BrokerProcess } from '../support/broker-process.js'
import { fakeSlack, interaction, type FakeSlack } from '../support/fake-slack.js'

const redisUrl = inject('redisUrl')
const prefix = `airlock-test:${randomBytes(5).toString('hex')}:`
const keys = newKeys()
const dir = tempDir()
const masterKey = randomBytes(32).toString('base64')
const SECRET = `canary-signing-${randomBytes(12).toString('hex')}`
const TOKEN = `xoxb-canary-${randomBytes(12).toString('hex')}`
let slack: FakeSlack
let a: BrokerProcess
let configPath: string

const slackSection = (apiUrl: string, secretRef: string, tokenRef: string) =>
  [
    'vault: { backend: redis, master_key: "env:AIRLOCK_MASTER_KEY" }',
    'slack:',
    `  bot_token: ${tokenRef}`,
    `  signing_secret: ${secretRef}`,
    '  channel: C0APPROVALS',
    `  api_url: "${apiUrl}"`,
  ].join('\n')

type Body = Record<string, any>
const call = async (method: string, path: string, who: keyof typeof keys, body?: unknown) => {
  const r = await fetch(`${a.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${keys[who]}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  return { status: r.status, body: (r.status === 204 ? {} : await r.json()) as Body }
}
const click = async (secret: string, user: string, sid: string) => {
  const { body, headers } = interaction({ secret, user, action: 'airlock_approve', value: sid })
  const r = await fetch(`${a.url}/slack/interactions`, { method: 'POST', headers, body })
  return { status: r.status, body: await r.text() }
}
const pending = async (task: string) => {
  const r = await call(
    'POST',
    '/v1/sessions',
    'other-bot',
    sessionBody({ operation_class: 'destructive', task: { id: task } }),
  )
  expect(r.status).toBe(202)
  return r.body.session.id as string
}
const approvers = async (sid: string) =>
  ((await call('GET', `/v1/sessions/${sid}`, 'ops')).body.approvals as { by: string }[]).map((x) => x.by)
/** A log line from now on (registered before the action that causes it). */
const next = (re: RegExp) => a.waitForLine(re, Number.MAX_SAFE_INTEGER)
const resolved = (field: string) =>
  next(new RegExp(`"field":"${field.replace('.', '\\.')}".*a vault: reference in the config resolved`))
const posted = (sid: string) =>
  slack.waitFor(
    (c) => c.method === 'chat.postMessage' && c.authed && JSON.stringify(c.args['blocks']).includes(sid),
  )

beforeAll(async () => {
  slack = await fakeSlack({ token: TOKEN })
  configPath = join(dir, 'airlock.yaml')
  writeFileSync(
    configPath,
    testConfigYaml(prefix, keys, {
      port: await freePort(),
      extra: slackSection(slack.url, 'vault:slack/signing-secret', 'vault:slack/bot-token'),
    }),
  )
  a = await startBrokerProcess(configPath, {
    REDIS_URL: redisUrl,
    AIRLOCK_MASTER_KEY: masterKey,
    AIRLOCK_LOG_LEVEL: 'info',
  })
}, 60_000)

afterAll(async () => {
  await a?.stop()
  await slack?.close()
  await deletePrefix(redisUrl, prefix)
})

describe('Slack secrets kept in the vault, with a real broker process', () => {
  let sid: string

  it('missing at start: every click is a 503 (logged and counted), an empty-key one included', async () => {
    await a.waitForLine(/"field":"slack\.signing_secret".*cannot be resolved/)
    sid = await pending('SLACK-MISSING')
    for (const secret of ['', SECRET]) {
      const r = await click(secret, 'U0ALICE', sid)
      expect(r.status).toBe(503)
      expect(JSON.parse(r.body)).toMatchObject({ error: 'unavailable' })
    }
    expect(await approvers(sid)).toEqual([])
    await a.waitForLine(/Slack interaction refused: slack\.signing_secret has no value/)
    const metrics = await (
      await fetch(`${a.url}/metrics`, { headers: { authorization: `Bearer ${keys.ops}` } })
    ).text()
    expect(metrics).toMatch(/airlock_slack_interactions_total\{outcome="unavailable"\} 2/)
    expect(metrics).toMatch(/airlock_config_secrets_unresolved\{field="slack\.signing_secret"\} 1/)
  })

  it('written later: takes effect without a restart; the empty key is refused, the real one accepted', async () => {
    const ready = resolved('slack.signing_secret')
    expect((await call('PUT', '/v1/vault/slack/signing-secret', 'ops', { value: SECRET })).status).toBe(204)
    await ready
    expect((await click('', 'U0ALICE', sid)).status).toBe(401)
    expect(await approvers(sid)).toEqual([])
    expect((await click(SECRET, 'U0ALICE', sid)).status).toBe(200)
    expect(await approvers(sid)).toEqual(['alice'])
  })

  it('the bot token written later: the request queued meanwhile reaches the approvers', async () => {
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage')).toEqual([])
    const ready = resolved('slack.bot_token')
    expect((await call('PUT', '/v1/vault/slack/bot-token', 'ops', { value: TOKEN })).status).toBe(204)
    await ready
    await posted(sid)
  })

  it('after a SIGHUP reload both secrets still hold: empty key refused, real key accepted, messages sent', async () => {
    const reloaded = next(/config reloaded/)
    a.child.kill('SIGHUP')
    await reloaded
    expect((await click('', 'U0CAROL', sid)).status).toBe(401)
    expect(await approvers(sid)).toEqual(['alice'])
    expect((await click(SECRET, 'U0CAROL', sid)).status).toBe(200)
    expect((await call('GET', `/v1/sessions/${sid}`, 'ops')).body.status).toBe('approved')
    await posted(await pending('SLACK-AFTER-RELOAD'))
  }, 30_000)

  it('deleted from the vault: clicks are 503 again', async () => {
    const gone = next(/"field":"slack\.signing_secret".*cannot be resolved/)
    expect((await call('DELETE', '/v1/vault/slack/signing-secret', 'ops')).status).toBe(204)
    await gone
    const s = await pending('SLACK-DELETED')
    expect((await click('', 'U0ALICE', s)).status).toBe(503)
    expect((await click(SECRET, 'U0ALICE', s)).status).toBe(503)
    expect(await approvers(s)).toEqual([])
  })

  it('an empty file: is a config error naming the field and the file; the broker does not start', async () => {
    const empty = join(dir, 'empty-secret')
    writeFileSync(empty, '\n')
    const path = join(dir, 'empty.yaml')
    writeFileSync(
      path,
      testConfigYaml(prefix, keys, {
        port: await freePort(),
        extra: slackSection(slack.url, `file:${empty}`, 'env:SLACK_BOT_TOKEN'),
      }),
    )
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', path], {
      env: { ...process.env, REDIS_URL: redisUrl, AIRLOCK_MASTER_KEY: masterKey, SLACK_BOT_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let err = ''
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    expect(await new Promise((r) => child.once('exit', r))).toBe(78)
    expect(err).toContain(`slack.signing_secret: file ${empty} is empty`)
  }, 60_000)

  it('neither secret appears in the process output', () => {
    const out = [...a.stdout, ...a.stderr].join('\n')
    expect(out).not.toContain(SECRET)
    expect(out).not.toContain(TOKEN)
  })
})
