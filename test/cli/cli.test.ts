// The `airlock` client commands against a real broker process and a real Redis.
import type { ChildProcess } from 'node:child_process'
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { runCli, startCli } from '../support/cli.js'
import { agentArgs, cliBroker } from '../support/cli-env.js'

const fx = cliBroker('c')
const { keys, home, as, session } = fx

const latestSessionOf = async (task: string) => {
  const r = (await (
    await fetch(`${fx.broker.url}/v1/sessions?agent=build-bot&limit=500`, {
      headers: { authorization: `Bearer ${keys.ops}` },
    })
  ).json()) as { sessions: { id: string; task: { id: string } }[] }
  return r.sessions.find((s) => s.task.id === task)?.id as string
}

beforeAll(() => fx.start(), 60_000)
afterAll(() => fx.stop())

describe('airlock exec', () => {
  it('the child sees the credentials; the session ends when it exits; nothing is written to disk', async () => {
    const r = await runCli(
      [
        'exec',
        ...agentArgs('EXEC-1'),
        '--',
        'sh',
        '-c',
        'echo "token=$AIRLOCK_SESSION_TOKEN own=${AIRLOCK_TOKEN:-none}"',
      ],
      as('build-bot'),
    )
    expect(r.code, r.err).toBe(0)
    // The child gets the session, not the agent's own API key.
    expect(r.out).toContain('own=none')
    const token = /token=(\S+)/.exec(r.out)?.[1] as string
    expect(token.split('.')).toHaveLength(3)
    expect(process.env['AIRLOCK_SESSION_TOKEN']).toBeUndefined()
    const id = await latestSessionOf('EXEC-1')
    expect(await session(id)).toMatchObject({ status: 'revoked', revoked_by: 'build-bot' })
    const introspect = await fetch(`${fx.broker.url}/v1/introspect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.ops}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    })
    expect(await introspect.json()).toEqual({ active: false })
    expect(readdirSync(home)).toEqual([]) // no profile, cache or credential file
  })

  it("returns the child's failing exit code and still ends the session", async () => {
    const r = await runCli(['exec', ...agentArgs('EXEC-2'), '--', 'sh', '-c', 'exit 3'], as('build-bot'))
    expect(r.code).toBe(3)
    expect((await session(await latestSessionOf('EXEC-2'))).status).toBe('revoked')
  })

  it('on SIGTERM: forwards it to the child, ends the session, exits 143', async () => {
    const { child, done } = startCli(
      ['exec', ...agentArgs('EXEC-3'), '--', 'sh', '-c', 'echo started; exec sleep 30'],
      as('build-bot'),
    )
    await new Promise<void>((resolve) =>
      child.stdout?.on('data', (d: Buffer) => d.toString().includes('started') && resolve()),
    )
    child.kill('SIGTERM')
    const r = await done
    expect(r.code).toBe(143)
    expect((await session(await latestSessionOf('EXEC-3'))).status).toBe('revoked')
  })

  it('a command that cannot be run is 127, and the session still ends', async () => {
    const r = await runCli(['exec', ...agentArgs('EXEC-4'), '--', '/nonexistent/tool'], as('build-bot'))
    expect(r.code).toBe(127)
    expect((await session(await latestSessionOf('EXEC-4'))).status).toBe('revoked')
  })
})

/** A function that resolves once the child's stderr so far matches a pattern. */
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

/** Waits (bounded) until the CLI's request shows up pending; returns its id. */
async function pendingOf(task: string): Promise<string> {
  let id = ''
  await vi.waitFor(
    async () => {
      const r = (await (
        await fetch(`${fx.broker.url}/v1/sessions?agent=other-bot&status=pending_approval`, {
          headers: { authorization: `Bearer ${keys.ops}` },
        })
      ).json()) as { sessions: { id: string; task: { id: string } }[] }
      id = r.sessions.find((s) => s.task.id === task)?.id ?? ''
      expect(id).not.toBe('')
    },
    { timeout: 15_000, interval: 100 },
  )
  return id
}

describe('approvals from the command line', () => {
  const destructive = ['--env', 'staging', '--class', 'destructive', '--provider', 'internal-api']

  it('request --wait completes when two approvals arrive over the API', async () => {
    const { child, done } = startCli(
      ['request', ...destructive, '--task', 'WAIT-1', '--wait', '--json'],
      as('other-bot'),
    )
    const stderrShows = watchStderr(child)
    const id = await pendingOf('WAIT-1')
    // stderr is not a terminal: one plain line that says what to run, then one per change.
    await stderrShows(new RegExp(`waits for 2 approvals .*; an approver runs: airlock approve ${id}\\n`))
    expect((await runCli(['approve', id, '--comment', 'ok'], as('alice'))).out).toMatch(/1 of 2 approvals/)
    await stderrShows(new RegExp(`${id} approved by alice \\(1 of 2\\); waiting\\n`))
    expect((await runCli(['approve', id], as('carol'))).out).toMatch(/approved \(2 of 2 approvals\)/)
    const r = await done
    expect(r.code, r.err).toBe(0)
    expect(r.err).not.toContain('\u001b[') // no live line without a terminal
    expect(r.err.trim().split('\n')).toEqual([
      expect.stringMatching(/^airlock: ses_\w+ waits for 2 approvals/),
      `airlock: ${id} approved by alice (1 of 2); waiting`,
      `airlock: ${id} is approved (2 of 2 approvals)`,
    ])
    const out = JSON.parse(r.out) as { session: { status: string }; grant: { token: string } }
    expect(out.session.status).toBe('active')
    expect(out.grant.token.split('.')).toHaveLength(3)
  }, 60_000)

  it('a denied request exits 65', async () => {
    const { done } = startCli(['request', ...destructive, '--task', 'WAIT-2', '--wait'], as('other-bot'))
    const id = await pendingOf('WAIT-2')
    expect((await runCli(['deny', id, '--comment', 'no'], as('carol'))).code).toBe(0)
    const r = await done
    expect(r.code).toBe(65)
    expect(r.err).toMatch(/was denied by carol/)
    const self = await runCli(['approve', id], as('bob')) // the owner may not approve
    expect(self.code).toBe(77)
  }, 60_000)
  it('exec: SIGTERM while waiting for approvals withdraws the request and exits 143', async () => {
    const { child, done } = startCli(
      ['exec', ...destructive, '--task', 'WAIT-3', '--', 'sh', '-c', 'echo ran'],
      as('other-bot'),
    )
    const id = await pendingOf('WAIT-3')
    child.kill('SIGTERM')
    const r = await Promise.race([
      done,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000)),
    ])
    if (r === null) child.kill('SIGKILL')
    expect(r, 'exec kept waiting after SIGTERM').not.toBeNull()
    expect(r?.code).toBe(143)
    expect(r?.out).not.toContain('ran')
    expect((await session(id)).status).not.toBe('pending_approval')
  }, 60_000)
})

describe('errors and exit codes', () => {
  it.each([
    [
      'broker down',
      ['request', ...agentArgs('E-1')],
      { AIRLOCK_URL: 'http://127.0.0.1:1' },
      69,
      /broker unreachable/,
    ],
    [
      'bad token',
      ['request', ...agentArgs('E-2')],
      { AIRLOCK_TOKEN: 'ak_wrong' },
      77,
      /missing or invalid credential/,
    ],
    [
      'policy denial',
      ['request', '--env', 'prod', '--class', 'write', '--provider', 'internal-api', '--task', 'E-3'],
      {},
      77,
      /no rule lets build-bot use write on prod/,
    ],
    ['bad usage', ['request', '--env', 'staging'], {}, 64, /required option/],
    [
      'unknown environment',
      ['request', '--env', 'qa', '--class', 'read', '--provider', 'internal-api', '--task', 'E-4'],
      {},
      64,
      /unknown environment 'qa'/,
    ],
    ['bad duration', ['request', ...agentArgs('E-5'), '--ttl', 'soon'], {}, 64, /expected a duration/],
  ])('%s', async (_n, args, env, code, message) => {
    const r = await runCli(args, as('build-bot', env))
    expect(r.code).toBe(code)
    expect(r.err).toMatch(message)
    expect(r.err.trim().split('\n').length).toBeLessThanOrEqual(2)
  })

  it('an API key that cannot be sent is refused without printing it', async () => {
    for (const token of ['ak_leakme_1\nsecond line', 'ak_leakme_2\u00e9']) {
      const r = await runCli(['request', ...agentArgs('E-6')], as('build-bot', { AIRLOCK_TOKEN: token }))
      expect(r.code).toBe(64)
      expect(r.err).toMatch(/API key .* cannot be sent/)
      expect(r.err).not.toContain('leakme')
      expect(r.err.trim().split('\n')).toHaveLength(1)
    }
  })
})

describe('operator commands', () => {
  it('request, sessions, revoke one and in bulk, lock, locks, unlock, audit', async () => {
    const made = await runCli(['--json', 'request', ...agentArgs('OPS-1')], as('build-bot'))
    expect(made.code, made.err).toBe(0)
    const { session: s } = JSON.parse(made.out) as { session: { id: string; status: string } }
    expect(s.status).toBe('active')
    await runCli(['request', ...agentArgs('OPS-2')], as('build-bot'))

    const list = await runCli(['--json', 'sessions', '--agent', 'build-bot', '--status', 'active'], as('bob'))
    expect((JSON.parse(list.out) as { sessions: { id: string }[] }).sessions.map((x) => x.id)).toContain(s.id)
    const table = await runCli(['sessions', '--agent', 'build-bot'], as('bob'))
    expect(table.out).toMatch(/^ID\s+STATUS\s+AGENT\s+ENV\s+CLASS\s+PROVIDER\s+TASK/)
    expect(table.out).not.toContain('\u001b[') // NO_COLOR

    expect((await runCli(['revoke', s.id], as('ops'))).out).toContain(`${s.id} revoked`)
    const refuse = await runCli(['revoke', '--task', 'OPS-2'], as('ops'))
    expect(refuse.code).toBe(64)
    expect(refuse.err).toMatch(/without --yes/)
    const bulk = await runCli(['--json', 'revoke', '--task', 'OPS-2', '--yes'], as('ops'))
    expect(JSON.parse(bulk.out)).toMatchObject({ revoked: 1 })

    const lock = await runCli(
      ['--json', 'lock', '--agent', 'other-bot', '--reason', 'cli test', '--for', '2h'],
      as('ops'),
    )
    const lockId = (JSON.parse(lock.out) as { lock: { id: string; expires_at: string } }).lock.id
    expect((await runCli(['locks'], as('ops'))).out).toContain(lockId)
    const refused = await runCli(['request', ...agentArgs('OPS-3')], as('other-bot'))
    expect(refused.code).toBe(77)
    expect(refused.err).toMatch(/a lock holds/)
    expect((await runCli(['unlock', lockId], as('ops'))).out).toContain('lifted')

    const audit = await runCli(['--json', 'audit', '--session', s.id], as('ops'))
    expect((JSON.parse(audit.out) as { events: { type: string }[] }).events.map((e) => e.type)).toEqual([
      'session.revoked',
      'session.issued',
    ])
    const verify = await runCli(['audit', 'verify'], as('ops'))
    expect(verify).toMatchObject({ code: 0 })
    expect(verify.out).toMatch(/ok: \d+ events verified/)
    expect((await runCli(['sessions'], as('build-bot'))).code).toBe(77)
  }, 120_000)

  it('login saves a 0600 profile that later commands use', async () => {
    const env = { ...as('ops'), AIRLOCK_URL: '', AIRLOCK_TOKEN: '' }
    const r = await runCli(['login', '--url', fx.broker.url], env, `${keys.ops}\n`)
    expect(r.code, r.err).toBe(0)
    const path = join(home, '.config', 'airlock', 'config.yaml')
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect((await runCli(['locks'], env)).code).toBe(0)
    const bad = await runCli(['login', '--url', fx.broker.url, '--profile', 'bad'], env, 'ak_wrong\n')
    expect(bad.code).toBe(77)
  }, 60_000)

  it('login replaces a planted symlink and a loose file instead of writing the key through them', async () => {
    const dir = join(fx.dir, 'login-home')
    const env = { ...as('ops'), AIRLOCK_URL: '', AIRLOCK_TOKEN: '', XDG_CONFIG_HOME: dir }
    const path = join(dir, 'airlock', 'config.yaml')
    mkdirSync(join(dir, 'airlock'), { recursive: true })
    const target = join(fx.dir, 'world-readable.txt')
    writeFileSync(target, 'public\n', { mode: 0o644 })
    symlinkSync(target, path)
    const r = await runCli(['login', '--url', fx.broker.url], env, `${keys.ops}\n`)
    expect(r.code, r.err).toBe(0)
    expect(readFileSync(target, 'utf8')).toBe('public\n') // the key did not go through the link
    expect(lstatSync(path).isSymbolicLink()).toBe(false)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    // An existing loose file is replaced by a new 0600 one, never rewritten in place.
    chmodSync(path, 0o644)
    const before = statSync(path).ino
    expect(
      (await runCli(['login', '--url', fx.broker.url, '--profile', 'p2'], env, `${keys.ops}\n`)).code,
    ).toBe(0)
    expect(statSync(path).ino).not.toBe(before)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readdirSync(join(dir, 'airlock'))).toEqual(['config.yaml']) // no temp file left
  }, 60_000)
})
