// The command line as a newcomer and an agent meet it, spawned without a terminal against a real
// broker process: global options anywhere, --version, whoami, entitlements, claim, plain progress
// lines while exec waits, clamped TTLs said out loud, and session views that do not lie.
import type { ChildProcess } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { runCli, startCli } from '../support/cli.js'
import { cliBroker } from '../support/cli-env.js'
import { gatewayProvider } from '../support/gateway.js'

const fx = cliBroker('f')
const { as } = fx
const read = ['--env', 'staging', '--class', 'read', '--provider', 'internal-api']

function watchStderr(child: ChildProcess) {
  let err = ''
  const waiting: [RegExp, () => void][] = []
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString()
    for (const [re, resolve] of waiting) if (re.test(err)) resolve()
  })
  return (re: RegExp) =>
    new Promise<void>((resolve) => (re.test(err) ? resolve() : waiting.push([re, resolve])))
}

// A gateway provider, for requests that carry the one call they approve.
const volumes = gatewayProvider({
  name: 'volumes-api',
  upstream: 'http://127.0.0.1:9',
  credential: 'env:CLI_VIEW_GW_TOKEN',
  classes: ['destructive: { http: ["POST /api/**"] }'],
})
beforeAll(() => fx.start({ providers: volumes }, { CLI_VIEW_GW_TOKEN: 'gw-cli-view' }), 60_000)
afterAll(() => fx.stop())

describe('global options', () => {
  it('--json, --url and --profile are accepted before or after the subcommand', async () => {
    const after = await runCli(['sessions', '--agent', 'build-bot', '--json'], as('bob'))
    expect(after.code, after.err).toBe(0)
    expect(JSON.parse(after.out)).toHaveProperty('sessions')
    const made = await runCli(['request', ...read, '--task', 'G-1', '--json'], as('build-bot'))
    expect(JSON.parse(made.out).session.status).toBe('active')
    // --url after the subcommand, with no AIRLOCK_URL at all.
    const url = await runCli(['whoami', '--url', fx.broker.url, '--json'], as('ops', { AIRLOCK_URL: '' }))
    expect(url.code, url.err).toBe(0)
    expect(JSON.parse(url.out)).toMatchObject({ id: 'ops', kind: 'human' })
    const profile = await runCli(['locks', '--profile', 'nowhere'], as('ops', { AIRLOCK_URL: '' }))
    expect(profile.code).toBe(64)
    expect(profile.err).toMatch(/no broker/)
  }, 60_000)

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { version: string }
    const r = await runCli(['--version'], {})
    expect(r).toMatchObject({ code: 0, out: `${pkg.version}\n` })
  }, 60_000)
})

describe('who am I and what may I ask for', () => {
  it('whoami names the principal, its roles and the broker', async () => {
    const r = await runCli(['whoami'], as('build-bot'))
    expect(r.code, r.err).toBe(0)
    expect(r.out).toMatch(/^principal\s+build-bot \(agent\)$/m)
    expect(r.out).toMatch(/^roles\s+agent$/m)
    expect(r.out).toContain(`broker     ${fx.broker.url} (airlock `)
    expect((await runCli(['whoami'], as('bob'))).out).toMatch(/^roles\s+approver, operator$/m)
  }, 60_000)

  it('entitlements prints what the agent may request; a human is told their roles', async () => {
    const r = await runCli(['entitlements'], as('build-bot'))
    expect(r.code, r.err).toBe(0)
    expect(r.out).toMatch(/^ENV\s+CLASS\s+PROVIDER\s+APPROVALS\s+MAX TTL\s+RULE$/m)
    expect(r.out).toMatch(/^staging\s+read\s+internal-api\s+0\s+30m\s+bots work freely in staging$/m)
    expect(r.out).toMatch(/^prod\s+read\s+internal-api\s+1\s+1h\s+reading prod needs one engineer$/m)
    expect(r.out).not.toMatch(/^prod\s+destructive/m) // build-bot never destroys prod
    const human = await runCli(['entitlements'], as('alice'))
    expect(human.out).toBe('alice is a human with roles: approver (only agents request sessions)\n')
  }, 60_000)
})

describe('requests that wait', () => {
  it('request without --wait says how to approve, and claim ID collects the grant', async () => {
    const r = await runCli(
      ['request', '--env', 'prod', '--class', 'read', '--provider', 'internal-api', '--task', 'C-1'],
      as('other-bot'),
    )
    expect(r.code, r.err).toBe(0)
    const id = /(ses_\w+)\s+pending_approval/.exec(r.out)?.[1] as string
    expect(r.out).toContain(`an approver runs: airlock approve ${id}`)
    expect(r.out).toContain(`then claim it: airlock claim ${id}`)
    const early = await runCli(['claim', id], as('other-bot'))
    expect(early.code).toBe(65)
    expect(early.err).toMatch(/approval_pending/)
    expect((await runCli(['approve', id], as('alice'))).code).toBe(0)
    const claimed = await runCli(['claim', id], as('other-bot'))
    expect(claimed.code, claimed.err).toBe(0)
    expect(claimed.out).toMatch(new RegExp(`^${id}\\s+active$`, 'm'))
    expect(claimed.out).toMatch(/^ {2}token \S+\.\S+\.\S+$/m)
    expect((await runCli(['claim', id, '--json'], as('other-bot'))).code).toBe(64) // 409: claimed already
  }, 60_000)

  it('exec without a terminal prints one line when it starts waiting and one per change', async () => {
    const { child, done } = startCli(
      [
        'exec',
        '--env',
        'staging',
        '--class',
        'destructive',
        '--provider',
        'internal-api',
        '--task',
        'X-1',
        '--',
        'sh',
        '-c',
        'echo ran',
      ],
      as('other-bot'),
    )
    const shows = watchStderr(child)
    await shows(/waits for 2 approvals/)
    let sid = ''
    await vi.waitFor(
      async () => {
        const list = JSON.parse(
          (
            await runCli(
              ['sessions', '--agent', 'other-bot', '--status', 'pending_approval', '--json'],
              as('ops'),
            )
          ).out,
        ) as { sessions: { id: string; task: { id: string } }[] }
        sid = list.sessions.find((s) => s.task.id === 'X-1')?.id ?? ''
        expect(sid).not.toBe('')
      },
      { timeout: 15_000, interval: 100 },
    )
    await shows(new RegExp(`airlock approve ${sid}\\n`))
    await runCli(['approve', sid], as('alice'))
    await shows(new RegExp(`${sid} approved by alice \\(1 of 2\\); waiting\\n`))
    await runCli(['approve', sid], as('carol'))
    const r = await done
    expect(r.code, r.err).toBe(0)
    expect(r.out).toBe('ran\n')
    expect(r.err).not.toContain('\u001b[')
    expect(r.err.trim().split('\n')).toEqual([
      `airlock: ${sid} waits for 2 approvals (staging / destructive / internal-api) until ${
        /until (\S+);/.exec(r.err)?.[1] ?? ''
      }; an approver runs: airlock approve ${sid}`,
      `airlock: ${sid} approved by alice (1 of 2); waiting`,
      `airlock: ${sid} is approved (2 of 2 approvals)`,
    ])
  }, 60_000)

  it('a TTL above the rule maximum is clamped and the CLI says so', async () => {
    const r = await runCli(['request', ...read, '--task', 'T-1', '--ttl', '50m'], as('build-bot'))
    expect(r.code, r.err).toBe(0)
    expect(r.err).toBe(
      'airlock: ttl 3000s is above the 1800s that the rule "bots work freely in staging" allows, so the session gets 1800s\n',
    )
  }, 60_000)
})

describe('session views', () => {
  it('sessions show prints agent text as inert text: no escape sequence rewrites the screen', async () => {
    // Cursor up four lines, then over the line that says which environment this is.
    const lie = '\u001b[4A\rclass        read\u001b[K'
    const prod = ['--env', 'prod', '--class', 'read', '--provider', 'internal-api']
    const made = await runCli(
      ['request', ...prod, '--task', 'V-2', '--description', `a\nb${lie}`, '--justification', lie, '--json'],
      as('build-bot'),
    )
    expect(made.code, made.err).toBe(0)
    const id = (JSON.parse(made.out) as { session: { id: string } }).session.id
    const show = await runCli(['sessions', 'show', id], as('bob'))
    expect(show.code, show.err).toBe(0)
    expect(show.out).not.toContain('\u001b')
    expect(show.out).toMatch(/^justification\s+\\u001b\[4A\\u000dclass {8}read\\u001b\[K$/m)
    expect(show.out).toMatch(/^task\s+V-2 \(a\\nb\\u001b/m)
  }, 60_000)

  it('sessions show prints the call an action makes as Slack and the console show it', async () => {
    const destroy = ['request', '--env', 'staging', '--class', 'destructive', '--provider', 'volumes-api']
    const show = async (action: unknown) => {
      const file = join(fx.dir, 'action.json')
      await writeFile(file, JSON.stringify(action))
      const made = await runCli(
        [...destroy, '--task', 'V-3', '--action-file', file, '--json'],
        as('other-bot'),
      )
      expect(made.code, made.err).toBe(0)
      const id = (JSON.parse(made.out) as { session: { id: string } }).session.id
      const r = await runCli(['sessions', 'show', id], as('bob'))
      expect(r.code, r.err).toBe(0)
      // The call on the action's row, its body on the rows below, in the value column.
      const m = /^(action\s+)(.*)\n((?: +\S.*\n)*)/m.exec(r.out)
      const width = m?.[1]?.length ?? 0
      const rest = (m?.[3] ?? '').split('\n').filter((l) => l !== '')
      return [m?.[2], ...rest.map((l) => l.slice(width))].join('\n')
    }
    // GraphQL ends a comment at a carriage return too: deleteVolume runs.
    const query =
      'mutation {\n  renameVolume(id: "staging-1") # deleteVolume stays commented out:\r  deleteVolume(id: "prod-db")\n}'
    expect(await show({ method: 'POST', path: '/api/graphql', body: { query } })).toBe(
      'POST /api/graphql\nmutation {\n  renameVolume(id: "staging-1")\n  deleteVolume(id: "prod-db")\n}\nVariables: {}',
    )
    expect(await show({ method: 'POST', path: '/api/%70rod/volumes/1?force=%zz', body: { id: 1 } })).toBe(
      'POST /api/%70rod/volumes/1?force=%zz (decoded: /api/prod/volumes/1?force=%zz)\n{\n  "id": 1\n}',
    )
    expect(await show({ method: 'POST', path: '/api/volumes/1?force=%zz' })).toBe(
      'POST /api/volumes/1?force=%zz',
    )
  }, 60_000)

  it('finished sessions show no time left; sessions show prints a table unless --json', async () => {
    const made = JSON.parse(
      (await runCli(['request', ...read, '--task', 'V-1', '--json'], as('build-bot'))).out,
    ) as {
      session: { id: string }
    }
    const id = made.session.id
    const live = await runCli(['sessions', '--agent', 'build-bot'], as('ops'))
    expect(live.out).toMatch(new RegExp(`^${id}\\s+active\\s.*\\s\\d+m left$`, 'm'))
    await runCli(['revoke', id], as('ops'))
    const after = await runCli(['sessions', '--agent', 'build-bot'], as('ops'))
    expect(after.out).toMatch(new RegExp(`^${id}\\s+revoked\\s.*V-1\\s+-$`, 'm'))
    const show = await runCli(['sessions', 'show', id], as('ops'))
    expect(show.code, show.err).toBe(0)
    expect(show.out).toMatch(/^FIELD\s+VALUE$/m)
    expect(show.out).toMatch(new RegExp(`^status\\s+revoked$`, 'm'))
    expect(show.out).toMatch(/^revoked by\s+ops at \S+$/m)
    expect(show.out).not.toMatch(/left/)
    const json = await runCli(['sessions', 'show', id, '--json'], as('ops'))
    expect(JSON.parse(json.out)).toMatchObject({ id, status: 'revoked' })
  }, 60_000)
})
