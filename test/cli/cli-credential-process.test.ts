// `airlock credential-process` as the AWS SDKs run it: a real `airlock serve` child on a real Redis,
// its aws provider on the local STS/IAM, an AWS config profile whose credential_process is the CLI,
// resolved by the SDK's own `fromProcess`.
import { fromProcess } from '@aws-sdk/credential-providers'
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { awsWorld, BROKER_AKID, CANARY_AWS_SECRET, ROLES, type AwsWorld } from '../support/aws-setup.js'
import { runCli } from '../support/cli.js'
import { tagsOf } from '../support/fake-aws.js'
import { agentArgs as readArgs, cliBroker } from '../support/cli-env.js'

const fx = cliBroker('cp', { home: (dir) => dir })
const { keys, dir } = fx
let w: AwsWorld

const MAIN = resolve('src/cli/main.ts')
const agentArgs = (task: string, provider = 'aws-main') => readArgs(task, provider)
const env = (token: string) => fx.as('build-bot', { AIRLOCK_TOKEN: token })
const asOps = async <T>(path: string): Promise<T> =>
  (await (
    await fetch(`${fx.broker.url}${path}`, { headers: { authorization: `Bearer ${keys.ops}` } })
  ).json()) as T
const sessionOfTask = async (task: string) => {
  const r = await asOps<{
    sessions: { id: string; status: string; expires_at: string; task: { id: string } }[]
  }>('/v1/sessions?agent=build-bot&limit=500')
  return r.sessions.find((s) => s.task.id === task)!
}

/** Runs `fn` with these variables in this process's environment (the SDK passes it to the child). */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
  Object.assign(process.env, vars)
  try {
    return await fn()
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

/** An AWS config file with a profile `airlock` whose credential_process is this CLI. */
function awsConfigFiles(task: string, provider = 'aws-main') {
  const config = join(dir, `${task}.config`)
  const credentials = join(dir, `${task}.credentials`)
  const command = [
    process.execPath,
    '--import',
    'tsx',
    MAIN,
    'credential-process',
    ...agentArgs(task, provider),
  ]
  writeFileSync(config, `[profile airlock]\ncredential_process = ${command.join(' ')}\nregion = eu-west-1\n`)
  writeFileSync(credentials, '')
  return { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: credentials }
}

beforeAll(async () => {
  w = await awsWorld()
  await fx.start({ providers: w.providerYaml() })
}, 60_000)

afterAll(async () => {
  await fx.stop()
  await w?.close()
})

describe('airlock credential-process', () => {
  it("the SDK's fromProcess resolves a profile to the STS credentials of a fresh session, expiring at its end", async () => {
    const files = awsConfigFiles('T-1')
    const assumed = w.fake.callsOf('AssumeRole').length
    const creds = await withEnv({ ...env(keys['build-bot']), ...files }, () =>
      fromProcess({ profile: 'airlock' })(),
    )

    // Exactly what the local STS issued for this session (one AssumeRole on the environment's role,
    // signed with the broker's key).
    const session = await sessionOfTask('T-1')
    const calls = w.fake
      .callsOf('AssumeRole')
      .slice(assumed)
      .filter((c) => tagsOf(c)['airlock:session-id'] === session.id)
    expect(calls).toHaveLength(1)
    expect(calls[0]).toMatchObject({ accessKeyId: BROKER_AKID, status: 200 })
    expect(calls[0]!.params['RoleArn']).toBe(ROLES.staging)
    const issued = w.fake.identities.get(creds.accessKeyId)!
    expect(issued).toBeDefined()
    // The STS session is named after the session's issue attempt.
    expect(calls[0]!.params['RoleSessionName']).toMatch(new RegExp(`^${session.id}\\.[0-9a-f]{8}$`))
    expect(issued.arn).toBe(
      `arn:aws:sts::111111111111:assumed-role/airlock-staging/${calls[0]!.params['RoleSessionName']}`,
    )
    expect(creds.accessKeyId).toMatch(/^ASIA/)
    expect(creds.secretAccessKey).toBe(issued.secretAccessKey)
    expect(creds.sessionToken).toBe(issued.sessionToken)

    expect(session.status).toBe('active')
    expect(creds.expiration?.toISOString()).toBe(new Date(session.expires_at).toISOString())
    // The SDK never holds the credentials past their life at STS either.
    expect(creds.expiration!.getTime()).toBeLessThanOrEqual(issued.expiresAt!)
  }, 60_000)

  it('prints exactly the credential_process JSON, nothing else', async () => {
    const r = await runCli(['credential-process', ...agentArgs('T-2')], env(keys['build-bot']))
    expect(r.code, r.err).toBe(0)
    expect(r.err).toBe('')
    const out = JSON.parse(r.out) as Record<string, unknown>
    expect(Object.keys(out)).toEqual([
      'Version',
      'AccessKeyId',
      'SecretAccessKey',
      'SessionToken',
      'Expiration',
    ])
    expect(out['Version']).toBe(1)
    expect(out['Expiration']).toBe(new Date((await sessionOfTask('T-2')).expires_at).toISOString())
  }, 60_000)

  it('a bad token: exit 77, one line on stderr, nothing on stdout; the SDK reports it', async () => {
    const wrong = `ak_wrong_${'x'.repeat(20)}`
    const r = await runCli(['credential-process', ...agentArgs('T-3')], env(wrong))
    expect(r.code).toBe(77)
    expect(r.out).toBe('')
    expect(r.err.trim().split('\n')).toHaveLength(1)
    expect(r.err).toMatch(/^airlock: missing or invalid credential \(unauthenticated\)/)
    expect(r.err).not.toContain(wrong)

    const files = awsConfigFiles('T-3')
    await expect(
      withEnv({ ...env(wrong), ...files }, () => fromProcess({ profile: 'airlock' })()),
    ).rejects.toThrow(/missing or invalid credential/)
  }, 60_000)

  it('AWS refusing: exit 69 with the scrubbed reason on one line; no secret anywhere', async () => {
    w.fake.fail('AssumeRole', { status: 403, code: 'AccessDenied', message: 'not authorized to assume' })
    const r = await runCli(['credential-process', ...agentArgs('T-4')], env(keys['build-bot']))
    expect(r.code).toBe(69)
    expect(r.out).toBe('')
    expect(r.err.trim().split('\n')).toHaveLength(1)
    expect(r.err).toMatch(/could not issue credentials: .*AccessDenied/)
    expect((await sessionOfTask('T-4')).status).toBe('revoked')
  }, 60_000)

  it('a provider without AWS credentials: exit 64, and the unusable session is ended', async () => {
    const r = await runCli(
      ['credential-process', ...agentArgs('T-5', 'internal-api')],
      env(keys['build-bot']),
    )
    expect(r.code).toBe(64)
    expect(r.out).toBe('')
    expect(r.err.trim()).toBe('airlock: provider internal-api does not issue AWS credentials')
    expect((await sessionOfTask('T-5')).status).toBe('revoked')
  }, 60_000)

  it("the broker's key and the agents' secrets never reached the broker's output", () => {
    const output = [...fx.broker.stdout, ...fx.broker.stderr].join('\n')
    expect(fx.broker.stdout.length).toBeGreaterThan(5)
    expect(output).not.toContain(CANARY_AWS_SECRET)
    expect(output).not.toContain('CANARY')
    for (const id of w.fake.identities.values()) {
      if (id.sessionToken) {
        expect(output).not.toContain(id.secretAccessKey)
        expect(output).not.toContain(id.sessionToken)
      }
    }
  })
})

describe('airlock exec with AWS credentials', () => {
  it("the SDK's default chain in the child uses the session, not a profile the parent named", async () => {
    // The person's own admin profile, selected by AWS_PROFILE in the shell that runs exec.
    const config = join(dir, 'admin.config')
    writeFileSync(config, '[profile admin]\nregion = eu-west-1\n')
    const credentials = join(dir, 'admin.credentials')
    writeFileSync(
      credentials,
      '[admin]\naws_access_key_id = AKIAADMINPROFILE0000\naws_secret_access_key = admin\n',
    )
    const script =
      "import { fromNodeProviderChain } from '@aws-sdk/credential-providers'; " +
      'console.log((await fromNodeProviderChain()()).accessKeyId)'
    const r = await runCli(
      ['exec', ...agentArgs('X-1'), '--', process.execPath, '--input-type=module', '-e', script],
      {
        ...env(keys['build-bot']),
        AWS_PROFILE: 'admin',
        AWS_CONFIG_FILE: config,
        AWS_SHARED_CREDENTIALS_FILE: credentials,
      },
    )
    expect(r.code, r.err).toBe(0)
    expect(r.out.trim()).toMatch(/^ASIA/)
    expect(w.fake.identities.get(r.out.trim())).toBeDefined()
  }, 60_000)
})
