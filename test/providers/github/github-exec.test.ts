// The github provider end to end: a real broker process, the real `airlock` CLI, and an agent
// program under `airlock exec` using the real @octokit/rest client against the fake GitHub.
import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../support/cli.js'
import { cliBroker } from '../../support/cli-env.js'
import { secondaryRateLimit } from '../../support/fake-github.js'
import { githubWorld, OWNER } from '../../support/github-setup.js'

const fx = cliBroker('gh')
const { keys, home, as } = fx
const AGENT = resolve('test/support/octokit-agent.mjs')
const CLI = resolve('src/cli/main.ts')
let w: Awaited<ReturnType<typeof githubWorld>>
const outputs: string[] = []

const exec = async (
  cls: string,
  task: string,
  command: string[],
  extra: Record<string, string> = {},
  stdin = '',
) => {
  const args = [
    'exec',
    '--env',
    'staging',
    '--class',
    cls,
    '--provider',
    'github',
    '--task',
    task,
    '--',
    ...command,
  ]
  const r = await runCli(args, as('build-bot', extra), stdin)
  outputs.push(r.out, r.err)
  return r
}
/** Runs the octokit agent under exec and returns GitHub's answers, step by step. */
const agent = async (cls: string, task: string, steps: string[], extra: Record<string, string> = {}) => {
  const r = await exec(cls, task, [process.execPath, AGENT, ...steps], extra)
  expect(r.code, r.err).toBe(0)
  return JSON.parse(r.out.trim().split('\n').at(-1) as string) as Record<string, any>[]
}
const statuses = (results: Record<string, any>[]) =>
  Object.fromEntries(results.filter((r) => r['step'] !== 'env').map((r) => [r['step'], r['status']]))

beforeAll(async () => {
  w = await githubWorld()
  const masterKey = randomBytes(32).toString('base64')
  await fx.start(
    {
      providers: w.providerYaml({ extra: '    rate_limit_wait: 5s' }),
      extra: 'vault: { backend: redis, master_key: "env:AIRLOCK_MASTER_KEY" }',
    },
    { AIRLOCK_MASTER_KEY: masterKey },
  )
  // The App's key goes into the vault through the CLI, on stdin.
  const put = await runCli(['vault', 'put', 'github/app-key'], as('ops'), w.fake.privateKeyPem)
  outputs.push(put.out, put.err)
  expect(put.code, put.err).toBe(0)
}, 60_000)

afterAll(async () => {
  await fx.stop()
  await w?.fake.close()
})

// Each test starts the CLI, the agent and sometimes git as processes: slow on a busy machine.
describe('github under airlock exec', { timeout: 90_000 }, () => {
  it("a staging read token reads the staging repository and can neither write nor read prod's", async () => {
    const r = await agent('read', 'GH-READ', [
      `get:${OWNER}:app-staging-config`,
      `put:${OWNER}:app-staging-config:notes.md`,
      `get:${OWNER}:app`,
    ])
    expect(r[0]).toEqual({ step: 'env', same: true, prefix: 'ghs_' })
    expect(statuses(r)).toEqual({
      [`get:${OWNER}:app-staging-config`]: 200,
      [`put:${OWNER}:app-staging-config:notes.md`]: 403,
      [`get:${OWNER}:app`]: 404,
    })
    // exec ended the session when the agent exited: the token is revoked at GitHub.
    expect([...w.fake.tokens.values()].every((t) => t.revokedAt !== null)).toBe(true)
  })

  it('a write token commits', async () => {
    const r = await agent('write', 'GH-WRITE', [`put:${OWNER}:app-staging-config:docs/change.md`])
    expect(statuses(r)).toEqual({ [`put:${OWNER}:app-staging-config:docs/change.md`]: 201 })
    expect(w.fake.files.get(`${OWNER}/app-staging-config/docs/change.md`)).toBe(
      `written by put:${OWNER}:app-staging-config:docs/change.md`,
    )
  })

  it('a revoked token is refused by GitHub at once', async () => {
    const get = `get:${OWNER}:app-staging-config`
    const r = await agent('read', 'GH-REVOKE', [get, 'revoke', get], { OPERATOR_KEY: keys.ops })
    expect(r.slice(1).map((x) => [x['step'], x['status']])).toEqual([
      [get, 200],
      ['revoke', 200],
      [get, 401],
    ])
  })

  it("GitHub's rate limit on issuing is waited out", async () => {
    w.fake.answer('POST /app/installations/', secondaryRateLimit(1))
    const before = w.fake.calls.length
    const r = await agent('read', 'GH-LIMIT', [`get:${OWNER}:app-staging-config`])
    expect(statuses(r)).toEqual({ [`get:${OWNER}:app-staging-config`]: 200 })
    const issuing = w.fake.calls.slice(before).filter((c) => c.path.endsWith('/access_tokens'))
    expect(issuing.map((c) => c.status)).toEqual([429, 201])
  })

  it('git gets the token from airlock git-credential, for the token’s server only, with nothing on disk', async () => {
    const host = new URL(w.fake.url).host
    const helper = `!"${process.execPath}" --import tsx "${CLI}" git-credential`
    const r = await exec(
      'read',
      'GH-GIT',
      ['git', '-c', 'credential.helper=', '-c', `credential.helper=${helper}`, 'credential', 'fill'],
      { GIT_TERMINAL_PROMPT: '0' },
      `protocol=http\nhost=${host}\npath=${OWNER}/app-staging-config.git\n\n`,
    )
    expect(r.code, r.err).toBe(0)
    expect(r.out).toContain('username=x-access-token\n')
    const password = /password=(\S+)/.exec(r.out)?.[1] as string
    expect(w.fake.tokens.get(password)?.repositories).toEqual(['app-staging-config'])

    // Another server gets nothing from it (git would then ask its other helpers).
    const other = await runCli(
      ['git-credential', 'get'],
      {
        GITHUB_TOKEN: password,
        AIRLOCK_SESSION_TOKEN: 'x',
        GITHUB_SERVER_URL: w.fake.url,
        HOME: home,
      },
      'protocol=https\nhost=github.com\n\n',
    )
    expect(other).toMatchObject({ code: 0, out: '' })
    expect(readdirSync(home)).toEqual([])
  })

  it("the App's private key appears in no output: CLI, agent, broker log and audit", async () => {
    const body = w.fake.privateKeyPem.split('\n').slice(1, -2).join('')
    const chunks = [0, 400, 800, 1200].map((i) => body.slice(i, i + 40))
    const everything = [...outputs, ...fx.broker.stdout, ...fx.broker.stderr].join('\n')
    expect(fx.broker.stdout.some((l) => l.includes('session.issued'))).toBe(true)
    for (const secret of [...chunks, 'PRIVATE KEY']) expect(everything).not.toContain(secret)
    // Nor the tokens themselves in the broker's log and audit.
    const brokerOut = [...fx.broker.stdout, ...fx.broker.stderr].join('\n')
    for (const t of w.fake.tokens.keys()) expect(brokerOut).not.toContain(t)
  })
})
