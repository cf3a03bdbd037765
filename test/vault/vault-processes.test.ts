// Two `airlock serve` processes sharing one Redis vault, driven by the `airlock vault` and
// `airlock keys` commands; and a third process with the wrong master key that must refuse.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, inject, vi } from 'vitest'
import { deletePrefix, newKeys, sessionBody, testConfigYaml } from '../helper.js'
import { freePort, startBrokerProcess, tempDir, type BrokerProcess } from '../support/broker-process.js'

const redisUrl = inject('redisUrl')
const prefix = `airlock-test:${randomBytes(5).toString('hex')}:`
const keys = newKeys()
const dir = tempDir()
const masterKey = randomBytes(32).toString('base64')
const CANARY = `canary-${randomBytes(12).toString('hex')}`
const cliOutput: string[] = []
let a: BrokerProcess
let b: BrokerProcess

const configFor = (port: number) => {
  const path = join(dir, `airlock-${port}.yaml`)
  const yaml = testConfigYaml(prefix, keys, {
    port,
    extra: 'vault: { backend: redis, master_key: "env:AIRLOCK_MASTER_KEY" }',
  })
  writeFileSync(path, yaml)
  return path
}

/** Runs the real CLI; resolves with its exit code and output. */
function cli(args: string[], env: Record<string, string>, stdin?: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  child.stdin.end(stdin ?? '')
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.once('exit', (code) => {
      cliOutput.push(out, err)
      resolve({ code, out, err })
    }),
  )
}

const asOps = (p: BrokerProcess) => ({ AIRLOCK_URL: p.url, AIRLOCK_TOKEN: keys.ops })
const jwksOf = async (p: BrokerProcess) =>
  ((await (await fetch(`${p.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys
    .map((k) => k.kid)
    .sort()

beforeAll(async () => {
  const env = { REDIS_URL: redisUrl, AIRLOCK_MASTER_KEY: masterKey }
  a = await startBrokerProcess(configFor(await freePort()), env)
  b = await startBrokerProcess(configFor(await freePort()), env)
}, 60_000)

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()])
  await deletePrefix(redisUrl, prefix)
})

describe('a vault shared by two broker processes', () => {
  it('one generated the signing keys; both publish and use them', async () => {
    expect(await jwksOf(a)).toEqual(await jwksOf(b))
    const issued = await fetch(`${a.url}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys['build-bot']}`, 'content-type': 'application/json' },
      body: JSON.stringify(sessionBody()),
    })
    const { grant } = (await issued.json()) as { grant: { token: string } }
    const r = await fetch(`${b.url}/v1/introspect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys['internal-api']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token: grant.token }),
    })
    expect(((await r.json()) as { active: boolean }).active).toBe(true)
  })

  it('airlock vault put (stdin) through one, ls through the other: metadata only', async () => {
    const put = await cli(['vault', 'put', 'team/slack-token'], asOps(a), `${CANARY}\n`)
    expect(put).toMatchObject({ code: 0, out: 'stored team/slack-token\n' })
    const ls = await cli(['vault', 'ls', '--json'], asOps(b))
    expect(ls.code).toBe(0)
    expect(JSON.parse(ls.out)).toContainEqual({
      path: 'team/slack-token',
      version: 1,
      updated_at: expect.any(String),
      updated_by: 'ops',
    })
    const table = await cli(['vault', 'ls'], asOps(b))
    expect(table.out).toMatch(/^PATH\s+VERSION\s+UPDATED\s+BY\n/)
    expect((await cli(['vault', 'rm', 'team/slack-token'], asOps(b))).code).toBe(0)
    expect((await cli(['vault', 'rm', 'team/slack-token'], asOps(b))).err).toMatch(
      /no secret at team\/slack-token/,
    )
  })

  it('--from-file works; a value is never taken from an argument', async () => {
    const file = join(dir, 'value.txt')
    writeFileSync(file, CANARY)
    expect((await cli(['vault', 'put', 'team/file', '--from-file', file], asOps(a))).code).toBe(0)
    const extra = await cli(['vault', 'put', 'team/arg', CANARY], asOps(a))
    expect(extra.code).toBe(64)
  })

  it('airlock keys rotate on one replica reaches the other', async () => {
    const before = await jwksOf(b)
    const r = await cli(['keys', 'rotate'], asOps(a))
    expect(r.code).toBe(0)
    const kid = /active key (\S+)/.exec(r.out)?.[1] as string
    expect(before).not.toContain(kid)
    await vi.waitFor(async () => expect(await jwksOf(b)).toContain(kid), { timeout: 5000, interval: 50 })
  })

  it('the global --url picks the broker for vault and keys commands too', async () => {
    const elsewhere = { ...asOps(a), AIRLOCK_URL: 'http://127.0.0.1:1' }
    const ls = await cli(['--url', b.url, '--json', 'vault', 'ls'], elsewhere)
    expect(ls.code, ls.err).toBe(0)
    expect(Array.isArray(JSON.parse(ls.out))).toBe(true)
    expect((await cli(['--url', b.url, 'keys', 'rotate'], elsewhere)).code).toBe(0)
  })

  it('an unreachable broker URL is printed without the password it carries', async () => {
    const r = await cli(['vault', 'ls'], { ...asOps(a), AIRLOCK_URL: 'http://ops:s3cr3t-pw@127.0.0.1:1' })
    expect(r.code).toBe(69)
    expect(r.err).toMatch(/broker unreachable at http:\/\/127\.0\.0\.1:1/)
    expect(r.err).not.toContain('s3cr3t-pw')
  })

  it.each([
    ['a wrong API key', { AIRLOCK_TOKEN: 'ak_nobody' }, 77, /missing or invalid credential/],
    ['a non-admin', { AIRLOCK_TOKEN: keys.bob }, 77, /lacks the role/],
    ['an unreachable broker', { AIRLOCK_URL: 'http://127.0.0.1:1' }, 69, /broker unreachable/],
    ['no broker configured', { AIRLOCK_URL: '' }, 64, /set AIRLOCK_URL/],
  ])('%s: exit %s with one clear line', async (_n, env, code, message) => {
    const r = await cli(['vault', 'ls'], { ...asOps(a), ...env })
    expect(r.code).toBe(code)
    expect(r.err).toMatch(message)
    expect(r.err.trim().split('\n')).toHaveLength(1)
  })

  it('a broker with the wrong master key refuses to start, clearly and without a stack trace', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', configFor(await freePort())],
      {
        env: { ...process.env, REDIS_URL: redisUrl, AIRLOCK_MASTER_KEY: randomBytes(32).toString('base64') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let err = ''
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const code = await new Promise<number | null>((r) => child.once('exit', r))
    expect(code).toBe(78)
    expect(err).toMatch(/the master key does not open the vault/)
    expect(err).not.toMatch(/\n\s+at /)
  })

  it('the secret value never appears in any process or CLI output', () => {
    const all = [...a.stdout, ...a.stderr, ...b.stdout, ...b.stderr, ...cliOutput].join('\n')
    expect(all.length).toBeGreaterThan(100)
    expect(all).not.toContain(CANARY)
    expect(all).not.toContain(masterKey)
  })
})
