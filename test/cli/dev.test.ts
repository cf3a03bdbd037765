// `airlock dev` as a newcomer runs it: the banner's export lines pasted into a real bash, then the
// whole walkthrough with the real `airlock` command on the PATH: who am I, what may I ask for, a
// grant at once, a destructive request approved by two people, and (with DATABASE_URL) a real
// PostgreSQL login handed to a command.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { afterAll, describe, expect, it, inject } from 'vitest'
import { roleNames } from '../../providers/postgres/names.js'
import { freePort } from '../support/redis-server.js'

const children: ChildProcess[] = []
afterAll(() => children.forEach((c) => c.kill('SIGTERM')))

/** A bin directory with `airlock` in it, as `npm link` would leave one. */
function airlockOnPath(): string {
  const bin = mkdtempSync(join(tmpdir(), 'airlock-bin-'))
  const main = resolve('src/cli/main.ts')
  // tsx by absolute URL: the shell runs elsewhere, where a bare `tsx` would not resolve.
  const tsx = pathToFileURL(resolve('node_modules/tsx/dist/loader.mjs')).href
  writeFileSync(
    join(bin, 'airlock'),
    `#!/bin/sh\nexec "${process.execPath}" --import "${tsx}" "${main}" "$@"\n`,
  )
  chmodSync(join(bin, 'airlock'), 0o755)
  return bin
}

/** Starts `airlock dev` without a terminal and returns its banner once it is complete. */
async function startDev(env: Record<string, string | undefined> = {}): Promise<string> {
  const port = await freePort()
  const childEnv = { ...process.env, ...env }
  delete childEnv['REDIS_URL']
  if (!env['DATABASE_URL']) delete childEnv['DATABASE_URL']
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'dev', '--port', String(port)],
    {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  children.push(child)
  let out = ''
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString()
      if (out.includes('API docs:')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`airlock dev exited with ${code}`)))
  })
  return out
}

/** Runs a bash script with a clean environment (no AIRLOCK_* of ours) and `airlock` on the PATH. */
function bash(script: string, bin: string) {
  const home = mkdtempSync(join(tmpdir(), 'airlock-home-'))
  const r = spawnSync('bash', ['-c', script], {
    env: { PATH: `${bin}:${process.env['PATH'] ?? ''}`, HOME: home, NO_COLOR: '1' },
    cwd: home,
    encoding: 'utf8',
    timeout: 420_000,
  })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

describe('airlock dev', () => {
  it('the banner exports, pasted into bash, carry the whole walkthrough with two approvers', async () => {
    const banner = await startDev()
    const exports = banner.split('\n').filter((l) => l.startsWith('export '))
    expect(exports.map((l) => /^export (\w+)=/.exec(l)?.[1])).toEqual([
      'AIRLOCK_URL',
      'DEMO_BOT_KEY',
      'ALICE_KEY',
      'BOB_KEY',
      'CAROL_KEY',
      'OPS_KEY',
      'DEMO_API_KEY',
      'AIRLOCK_TOKEN',
    ])
    const curl = banner
      .split('\n')
      .filter((l) => /^ {2}curl |^ {4}-d /.test(l))
      .map((l) => l.trim())
      .join('\n')
    const r = bash(
      `set -euo pipefail
${exports.join('\n')}
echo "== whoami"; airlock whoami
echo "== entitlements"; airlock entitlements
echo "== curl"; ${curl} | jq -r .session.status
echo "== read"; airlock request --env staging --class read --provider demo-api --task DEMO-1 | head -1
echo "== destructive"
airlock request --env prod --class destructive --provider demo-api --task DEMO-2 --wait >wait.out 2>wait.err &
waiter=$!
until grep -q 'airlock approve' wait.err; do sleep 0.2; done
id=$(grep -o 'ses_[A-Za-z0-9_]*' wait.err | head -1)
AIRLOCK_TOKEN=$ALICE_KEY airlock approve "$id" || echo "alice refused"
AIRLOCK_TOKEN=$BOB_KEY airlock approve "$id"
# the waiter reports the first approval before the second one lands
until grep -q 'approved by bob' wait.err; do sleep 0.2; done
AIRLOCK_TOKEN=$CAROL_KEY airlock approve "$id"
wait "$waiter"
cat wait.err wait.out
echo "== audit"; AIRLOCK_TOKEN=$OPS_KEY airlock audit --session "$id" --json | jq -r '.events[] | "\\(.type) \\(.actor)"'
`,
      airlockOnPath(),
    )
    expect(r.code, r.err).toBe(0)
    expect(r.out).toMatch(/^principal\s+demo-bot \(agent\)$/m)
    expect(r.out).toMatch(
      /^prod\s+destructive\s+demo-api\s+2\s+1h\s+anything destructive needs two engineers$/m,
    )
    expect(r.out).toMatch(/== curl\nactive\n/)
    expect(r.out).toMatch(/== read\nses_\w+\s+active\n/)
    // alice owns demo-bot: refused; bob and carol make two.
    expect(r.err).toMatch(/alice owns demo-bot: an agent's owners never approve its requests/)
    expect(r.out).toMatch(/alice refused/)
    expect(r.out).toMatch(/^ses_\w+ pending_approval \(1 of 2 approvals\)$/m)
    expect(r.out).toMatch(/^ses_\w+ approved \(2 of 2 approvals\)$/m)
    expect(r.out).toMatch(/airlock: ses_\w+ approved by bob \(1 of 2\); waiting/)
    expect(r.out).toMatch(/^ses_\w+\s+active\n\s+demo-bot -> prod \/ destructive \/ demo-api/m)
    expect(r.out).toMatch(/^ {2}token \S+\.\S+\.\S+$/m)
    const audit = r.out.split('== audit\n')[1]?.trim().split('\n') ?? []
    // Newest first: issued at the claim, carol's approval completing bob's, the request.
    expect(audit).toEqual(
      expect.arrayContaining([
        'session.approval bob',
        'session.approved carol',
        'session.requested demo-bot',
      ]),
    )
    expect(audit.filter((t) => t.includes('alice'))).toEqual([])
  }, 480_000)

  it('with DATABASE_URL, exec hands a command a short-lived PostgreSQL login of its own', async () => {
    const admin = inject('pgScramUrl')
    const db = `airdev_${randomBytes(4).toString('hex')}`
    const run = async (url: string, sql: string) => {
      const c = new pg.Client({ connectionString: url })
      await c.connect()
      try {
        return await c.query(sql)
      } finally {
        await c.end()
      }
    }
    await run(admin, `CREATE DATABASE ${db}`)
    const serviceDir = mkdtempSync(join(tmpdir(), 'airlock-pgservice-'))
    const u = new URL(admin)
    u.pathname = `/${db}`
    try {
      const banner = await startDev({ DATABASE_URL: u.toString() })
      expect(banner).toContain('demo-db: PostgreSQL logins on DATABASE_URL')
      const exports = banner
        .split('\n')
        .filter((l) => l.startsWith('export '))
        .join('\n')
      // A service of the person's own, which libpq would read before PGUSER and PGPASSWORD.
      const services = join(serviceDir, 'pg_service.conf')
      writeFileSync(
        services,
        `[admin]\nhost=${u.hostname}\nport=${u.port}\nuser=${decodeURIComponent(u.username)}\npassword=${decodeURIComponent(u.password)}\n`,
      )
      const r = bash(
        `set -euo pipefail
${exports}
export PGSERVICEFILE=${services} PGSERVICE=admin
airlock exec --env staging --class read --provider demo-db --task PG-1 -- sh -c 'psql -tAc "select current_user, current_database()"'
`,
        airlockOnPath(),
      )
      expect(r.code, r.err).toBe(0)
      expect(r.out.trim()).toMatch(new RegExp(`^airlock_\\w+_ses_\\w+\\|${db}$`))
    } finally {
      rmSync(serviceDir, { recursive: true, force: true })
      const tag = roleNames('airlock-dev', 'demo-db').tag
      await run(admin, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
      const roles = await run(
        admin,
        `SELECT rolname FROM pg_roles WHERE starts_with(rolname, 'airlock_${tag}_')`,
      )
      for (const row of roles.rows as { rolname: string }[]) {
        await run(admin, `DROP ROLE IF EXISTS "${row.rolname}"`).catch(() => {})
      }
    }
  }, 300_000)

  it('serve refuses to start without a Redis URL', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs')
    const dir = mkdtempSync(join(tmpdir(), 'airlock-test-'))
    const cfg = join(dir, 'a.yaml')
    writeFileSync(cfg, 'environments: [{ name: staging }]\noperation_classes: [{ name: read }]\n')
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', cfg], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let err = ''
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()))
    const code = await new Promise<number | null>((r) => child.once('exit', r))
    expect(code).toBe(78)
    expect(err).toMatch(/store.redis_url: required/)
  }, 60_000)
})
