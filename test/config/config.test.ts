import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { formatDuration, parseDuration } from '../../src/validation/duration.js'
import { loadConfigFile, parseConfig } from '../../src/config/load.js'
import { resolveRef } from '../../src/config/secrets.js'
import { ConfigError } from '../../src/errors.js'
import { loadProblems } from '../support/example-config.js'

const EXAMPLE = readFileSync(new URL('../../config/airlock.example.yaml', import.meta.url), 'utf8')
const dir = mkdtempSync(join(tmpdir(), 'airlock-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const PEM = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
mkdirSync(join(dir, 'secrets'))
writeFileSync(join(dir, 'secrets', 'airlock-signing.pem'), PEM)

const ENV = {
  REDIS_URL: 'redis://localhost:6379/0',
  SLACK_BOT_TOKEN: 'xoxb-test',
  SLACK_SIGNING_SECRET: 'sign-test',
  CONSOLE_OIDC_SECRET: 'console-test',
  AIRLOCK_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
  SHORT_KEY: 'c2hvcnQ=',
}
const OPTS = { baseDir: dir, env: ENV }

type Problem = { path: string; message: string }
type Yaml = Record<string, unknown> | unknown[]

/** The problems parseConfig reports, or [] when it loads. */
function problemsOf(text: string, opts: Parameters<typeof parseConfig>[1] = OPTS): Problem[] {
  return loadProblems(text, opts)
}

/** The example with jwt and aws only (postgres and github have their own tests). */
function base(): Record<string, unknown> {
  const doc = parse(EXAMPLE) as Record<string, unknown>
  doc['providers'] = (doc['providers'] as { type: string }[]).filter(
    (p) => p.type !== 'postgres' && p.type !== 'github',
  )
  return doc
}

/** Sets `a.b[2].c` in a parsed document; `undefined` deletes. */
function setPath(doc: Yaml, path: string, value: unknown): void {
  const keys = path.match(/[^.[\]]+/g) ?? []
  let node: Yaml = doc
  keys.forEach((k, i) => {
    const rec = node as Record<string, unknown>
    if (i === keys.length - 1) {
      if (value === undefined) delete rec[k]
      else rec[k] = value
    } else {
      rec[k] ??= /^\d+$/.test(keys[i + 1] ?? '') ? [] : {}
      node = rec[k] as Yaml
    }
  })
}

function edited(edits: Record<string, unknown>): string {
  const doc = base()
  for (const [path, value] of Object.entries(edits)) setPath(doc, path, value)
  return stringify(doc)
}

describe('the example', () => {
  it('loads with every provider type built (jwt, aws, postgres)', () => {
    expect(problemsOf(EXAMPLE)).toEqual([])
  })

  it('loads without them, resolving references, durations, owners and defaults', () => {
    const c = parseConfig(stringify(base()), OPTS)
    expect(c.server).toEqual({
      host: '127.0.0.1',
      port: 8080,
      publicUrl: 'http://127.0.0.1:8080',
      bodyLimitBytes: 65536,
      metrics: { mode: 'operator' },
    })
    expect(c.store).toEqual({
      redis: { kind: 'standalone', url: ENV.REDIS_URL, tls: null },
      keyPrefix: 'airlock:',
      retentionMs: 86_400_000,
      replicaAcks: 0,
      replicaAckTimeoutMs: 1000,
    })
    expect(c.tokens).toEqual({
      algorithm: 'EdDSA',
      defaultTtlSeconds: 900,
      maxTtlSeconds: 3600,
      signingKeyPem: PEM.replace(/\n$/, ''),
      rotateEveryMs: 86_400_000,
    })
    expect(c.environments).toEqual([{ name: 'staging' }, { name: 'prod' }])
    expect(c.operationClasses).toEqual([
      { name: 'read', destructive: false },
      { name: 'write', destructive: false },
      { name: 'destructive', destructive: true },
    ])
    expect(c.agents.map((a) => a.owners)).toEqual([['alice'], ['bob']])
    expect(c.agents[0]?.oidc).toBeNull()
    expect(c.agents[1]).toMatchObject({
      id: 'deploy-bot',
      apiKeySha256: null,
      oidc: {
        issuer: 'https://token.actions.githubusercontent.com',
        audience: 'airlock',
        subject: 'repo:acme/app:ref:refs/heads/main',
        jwksUri: null,
        algorithms: ['RS256', 'ES256', 'EdDSA'],
        maxLifetimeSeconds: 3600,
      },
    })
    expect(c.humans.find((h) => h.id === 'carol')).toEqual({
      id: 'carol',
      roles: ['approver'],
      slackUserId: 'U0CAROL',
      apiKeySha256: null,
      email: null,
      oidcSubject: null,
    })
    expect(c.resourceServers[0]?.audiences).toEqual(['https://api.internal.example'])
    const env = (account: string, name: string) => ({
      roleArn: `arn:aws:iam::${account}:role/airlock-${name}`,
      roleName: `airlock-${name}`,
      accountId: account,
      adminRoleArn: `arn:aws:iam::${account}:role/airlock-admin`,
      externalId: null,
      adminExternalId: null,
      resources: ['*'],
      condition: null,
    })
    // The gateway providers are checked in gateway-config.test.ts.
    expect(c.providers.filter((p) => p.type !== 'gateway')).toEqual([
      { name: 'internal-api', type: 'jwt', options: { audience: 'https://api.internal.example' } },
      {
        name: 'aws-main',
        type: 'aws',
        options: {
          region: 'us-east-1',
          credentialsRef: 'vault:aws/broker',
          stsEndpoint: null,
          iamEndpoint: null,
          maxSessionSeconds: 3600,
          denyPolicyName: 'airlock-revoked-sessions',
          denyPolicyMaxChars: 10240,
          environments: { staging: env('111111111111', 'staging'), prod: env('222222222222', 'prod') },
          classes: {
            read: { actions: ['ec2:Describe*', 's3:GetObject', 's3:ListBucket', 'rds:Describe*'] },
            write: {
              actions: ['ec2:Describe*', 'ec2:CreateTags', 's3:GetObject', 's3:PutObject', 's3:ListBucket'],
            },
            destructive: { actions: ['ec2:DeleteVolume', 'rds:DeleteDBInstance', 's3:DeleteObject'] },
          },
        },
      },
    ])
    expect(c.policies.map((p) => [p.index, p.effect, p.approvals, p.maxTtlSeconds])).toEqual([
      [0, 'allow', 0, 1800],
      [1, 'allow', 1, null],
      [2, 'allow', 2, 900],
      [3, 'deny', 0, null],
    ])
    expect(c.policies[2]).toMatchObject({
      description: 'anything destructive needs two engineers',
      operationClasses: ['destructive'],
      approvers: ['alice', 'bob', 'carol'],
    })
    expect(c.policies[0]?.approvers).toBeNull()
    expect(c.approvals).toEqual({ timeoutMs: 1_800_000, claimWindowMs: 600_000 })
    expect(c.slack).toEqual({
      botToken: 'xoxb-test',
      signingSecret: 'sign-test',
      channel: 'C0APPROVALS',
      apiUrl: 'https://slack.com/api/',
    })
    expect(c.audit).toEqual({ stdout: true, retentionMs: 90 * 86_400_000, checkpointEveryMs: 60_000 })
    expect(c.rateLimits).toEqual({ perAgentPerMinute: 120 })
  })

  it('loads from a file, resolving file: paths against its directory', async () => {
    const path = join(dir, 'airlock.yaml')
    writeFileSync(path, stringify(base()))
    const c = await loadConfigFile(path, ENV)
    expect(c.tokens.signingKeyPem).toContain('PRIVATE KEY')
  })
})

describe('defaults', () => {
  it('fills every omitted section', () => {
    const text = stringify({
      environments: [{ name: 'dev' }],
      operation_classes: [{ name: 'read' }],
      humans: [{ id: 'ann' }],
      agents: [{ id: 'bot', owner: 'ann', api_key_sha256: 'a'.repeat(64) }],
      policies: [{ agents: ['*'], environments: ['dev'], operation_classes: ['read'], providers: ['*'] }],
    })
    const c = parseConfig(text, { baseDir: dir, env: {}, allowMissingStore: true })
    expect(c.server).toEqual({
      host: '127.0.0.1',
      port: 8080,
      publicUrl: 'http://127.0.0.1:8080',
      bodyLimitBytes: 65536,
      metrics: { mode: 'operator' },
    })
    expect(c.store).toEqual({
      redis: null,
      keyPrefix: 'airlock:',
      retentionMs: 86_400_000,
      replicaAcks: 0,
      replicaAckTimeoutMs: 1000,
    })
    expect(c.tokens).toEqual({
      algorithm: 'EdDSA',
      defaultTtlSeconds: 900,
      maxTtlSeconds: 3600,
      signingKeyPem: null,
      rotateEveryMs: 86_400_000,
    })
    expect(c.approvals).toEqual({ timeoutMs: 1_800_000, claimWindowMs: 600_000 })
    expect(c.audit).toEqual({ stdout: true, retentionMs: 90 * 86_400_000, checkpointEveryMs: 60_000 })
    expect(c.rateLimits.perAgentPerMinute).toBe(120)
    expect(c.slack).toBeNull()
    expect(c.humans[0]?.roles).toEqual([])
    expect(c.policies[0]).toMatchObject({
      description: 'policies[0]',
      effect: 'allow',
      approvals: 0,
      approvers: null,
    })
  })

  it('derives public_url from host and port, and a short max_ttl lowers the default ttl', () => {
    const c = parseConfig(edited({ server: { host: '::1', port: 9000 }, tokens: { max_ttl: '10m' } }), OPTS)
    expect(c.server.publicUrl).toBe('http://[::1]:9000')
    expect(c.tokens).toMatchObject({ defaultTtlSeconds: 600, maxTtlSeconds: 600 })
  })

  it('accepts a literal redis URL and a missing one in dev mode; resolves the vault master key', () => {
    expect(parseConfig(edited({ 'store.redis_url': 'rediss://h:6380' }), OPTS).store.redis).toEqual({
      kind: 'standalone',
      url: 'rediss://h:6380',
      tls: null,
    })
    const dev = parseConfig(edited({ 'store.redis_url': undefined }), { ...OPTS, allowMissingStore: true })
    expect(dev.store.redis).toBeNull()
    expect(problemsOf(edited({ 'vault.master_key': 'env:UNSET_MASTER_KEY' }))).toEqual([
      { path: 'vault.master_key', message: 'environment variable UNSET_MASTER_KEY is not set' },
    ])
    expect(problemsOf(edited({ 'vault.master_key': 'vault:x' }))).toEqual([
      { path: 'vault.master_key', message: 'cannot be kept in the vault it opens' },
    ])
    expect(() =>
      parseConfig(edited({ 'vault.master_key': undefined }), {
        ...OPTS,
        env: { ...ENV, AIRLOCK_MASTER_KEY: 'c2hvcnQ=' },
      }),
    ).toThrow('AIRLOCK_MASTER_KEY: expected base64 of exactly 32 bytes')
  })

  it('defers vault: references in Slack and signing-key fields until the vault opens', () => {
    const c = parseConfig(
      edited({ 'slack.bot_token': 'vault:slack/bot', 'tokens.signing_key': 'vault:keys/pem' }),
      OPTS,
    )
    expect(c.deferredSecrets).toEqual([
      { field: 'tokens.signing_key', ref: 'vault:keys/pem' },
      { field: 'slack.bot_token', ref: 'vault:slack/bot' },
    ])
    expect(c.vault).toEqual({ backend: 'redis', file: null, masterKey: Buffer.alloc(32, 7) })
  })

  it('appends the trailing slash Slack method URLs need', () => {
    expect(parseConfig(edited({ 'slack.api_url': 'http://127.0.0.1:9999/api' }), OPTS).slack?.apiUrl).toBe(
      'http://127.0.0.1:9999/api/',
    )
  })
})

const destructiveRule = (classes: string[], approvals: number) => ({
  agents: ['*'],
  environments: ['staging'],
  operation_classes: classes,
  providers: ['*'],
  approvals,
})

// Each edit to the loadable example, and the one problem it must produce.
const BAD: [name: string, edits: Record<string, unknown>, path: string, fragment: string][] = [
  // two-person rule
  [
    'destructive with 1 approval',
    { 'policies[2].approvals': 1 },
    'policies[2].approvals',
    "destructive class 'destructive' needs at least 2 approvals",
  ],
  [
    'destructive via *',
    { 'policies[4]': destructiveRule(['*'], 1) },
    'policies[4].approvals',
    "destructive class 'destructive' needs at least 2",
  ],
  [
    'destructive via a glob',
    { 'policies[4]': destructiveRule(['de*ve'], 0) },
    'policies[4].approvals',
    'at least 2 approvals',
  ],
  // uniqueness
  [
    'duplicate hash',
    { 'humans[1].api_key_sha256': '974f6a29752f836fcb461cbb868e58fe1580fd29859efcab2def2945d40824d6' },
    'humans[1].api_key_sha256',
    'duplicate api_key_sha256 (also used by agents[0])',
  ],
  [
    'hash shared with a resource server',
    {
      'resource_servers[0].api_key_sha256':
        'df53a71e4cfc9c2d258c3b7f61e2c047130ac8603ef652960d99d6519f8a5310',
    },
    'resource_servers[0].api_key_sha256',
    'also used by humans[0]',
  ],
  [
    'uppercase hash',
    { 'agents[0].api_key_sha256': 'A'.repeat(64) },
    'agents[0].api_key_sha256',
    '64 lowercase hex',
  ],
  [
    'duplicate slack id',
    { 'humans[2].slack_user_id': 'U0ALICE' },
    'humans[2].slack_user_id',
    "duplicate slack_user_id 'U0ALICE' (also used by humans[0])",
  ],
  [
    'duplicate environment',
    { 'environments[2]': { name: 'staging' } },
    'environments[2].name',
    "duplicate environment 'staging' (also environments[0])",
  ],
  [
    'duplicate class',
    { 'operation_classes[3]': { name: 'read' } },
    'operation_classes[3].name',
    "duplicate operation class 'read'",
  ],
  [
    'duplicate agent',
    { 'agents[2]': { id: 'build-bot', api_key_sha256: 'c'.repeat(64) } },
    'agents[2].id',
    "duplicate agent id 'build-bot'",
  ],
  ['duplicate human', { 'humans[4]': { id: 'alice' } }, 'humans[4].id', "duplicate human id 'alice'"],
  [
    'a human id that differs from another only in case',
    { 'humans[4]': { id: 'Alice', roles: ['approver'] } },
    'humans[4].id',
    "human id 'Alice' differs from 'alice' (humans[0]) only in case",
  ],
  [
    'an environment that differs from another only in case',
    { 'environments[2]': { name: 'Staging' } },
    'environments[2].name',
    "environment 'Staging' differs from 'staging' (environments[0]) only in case",
  ],
  [
    'duplicate provider',
    { 'providers[1]': { name: 'internal-api', type: 'jwt' } },
    'providers[1].name',
    "duplicate provider name 'internal-api'",
  ],
  [
    'agent and human share an id',
    { 'agents[2]': { id: 'ops', api_key_sha256: 'c'.repeat(64) } },
    'humans[3].id',
    "id 'ops' is also used by agents[2]",
  ],
  // principals
  ['unknown owner', { 'agents[0].owner': 'zed' }, 'agents[0].owner', "unknown human 'zed'"],
  [
    'unknown owner in a list',
    { 'agents[1].owner': ['bob', 'zed'] },
    'agents[1].owner[1]',
    "unknown human 'zed'",
  ],
  [
    'agent with no credential',
    { 'agents[0].api_key_sha256': undefined },
    'agents[0]',
    'needs api_key_sha256 or oidc',
  ],
  [
    'oidc alg none',
    { 'agents[1].oidc.algorithms': ['none'] },
    'agents[1].oidc.algorithms[0]',
    "'none' is not allowed",
  ],
  [
    'oidc alg HS256',
    { 'agents[1].oidc.algorithms': ['RS256', 'HS256'] },
    'agents[1].oidc.algorithms[1]',
    "'HS256' is not allowed",
  ],
  [
    'oidc max_lifetime too short',
    { 'agents[1].oidc.max_lifetime': '10s' },
    'agents[1].oidc.max_lifetime',
    'at least 1m',
  ],
  [
    'oidc max_lifetime not a duration',
    { 'agents[1].oidc.max_lifetime': 'forever' },
    'agents[1].oidc.max_lifetime',
    'duration',
  ],
  [
    'oidc over http',
    { 'agents[1].oidc.issuer': 'http://issuer.example' },
    'agents[1].oidc.issuer',
    'https://',
  ],
  [
    'unknown role',
    { 'humans[0].roles': ['approver', 'root'] },
    'humans[0].roles[1]',
    'expected approver, operator or admin',
  ],
  [
    'bad name',
    { 'environments[2]': { name: 'pro d' } },
    'environments[2].name',
    '1-64 characters of A-Za-z0-9._-',
  ],
  // policies
  [
    'unknown environment',
    { 'policies[1].environments': ['qa'] },
    'policies[1].environments[0]',
    "unknown environment 'qa'",
  ],
  [
    'unknown agent',
    { 'policies[0].agents': ['build-bot', 'bulid-bot'] },
    'policies[0].agents[1]',
    "unknown agent 'bulid-bot'",
  ],
  [
    'unknown class',
    { 'policies[0].operation_classes': ['reed'] },
    'policies[0].operation_classes[0]',
    "unknown operation class 'reed'",
  ],
  [
    'unknown provider',
    { 'policies[0].providers': ['aws-mian'] },
    'policies[0].providers[0]',
    "unknown provider 'aws-mian'",
  ],
  [
    'unknown approver',
    { 'policies[2].approvers': ['alice', 'bob', 'dave'] },
    'policies[2].approvers[2]',
    "unknown human 'dave'",
  ],
  [
    'approver without the role',
    { 'policies[2].approvers': ['alice', 'ops'] },
    'policies[2].approvers[1]',
    "human 'ops' does not have the approver role",
  ],
  [
    'approvals over 10',
    { 'policies[1].approvals': 11 },
    'policies[1].approvals',
    'expected an integer from 0 to 10',
  ],
  ['fractional approvals', { 'policies[1].approvals': 1.5 }, 'policies[1].approvals', 'expected an integer'],
  ['bad effect', { 'policies[3].effect': 'block' }, 'policies[3].effect', 'expected allow or deny'],
  ['missing matcher', { 'policies[0].providers': undefined }, 'policies[0].providers', 'required'],
  [
    'bad policy max_ttl',
    { 'policies[0].max_ttl': '30 minutes' },
    'policies[0].max_ttl',
    'expected a duration like 90s, 15m, 1h',
  ],
  // types and unknown keys
  ['port as text', { 'server.port': 'abc' }, 'server.port', 'expected an integer from 0 to 65535'],
  ['unknown server key', { 'server.prot': 8080 }, 'server.prot', "unknown key (did you mean 'port'?)"],
  ['unknown top-level key', { polices: [] }, 'polices', "did you mean 'policies'"],
  ['unknown agent key', { 'agents[0].api_key': 'x' }, 'agents[0].api_key', 'unknown key'],
  ['list expected', { environments: 'staging' }, 'environments', 'expected a list'],
  ['mapping expected', { server: 'localhost' }, 'server', 'expected a mapping'],
  ['bad public_url', { 'server.public_url': 'localhost:8080' }, 'server.public_url', 'http:// or https://'],
  // durations and token lifetimes
  [
    'duration with a space',
    { 'tokens.default_ttl': '15 m' },
    'tokens.default_ttl',
    'expected a duration like 90s, 15m, 1h',
  ],
  ['fractional duration', { 'approvals.timeout': '1.5h' }, 'approvals.timeout', 'expected a duration like'],
  ['duration as a number', { 'store.retention': 3600 }, 'store.retention', 'expected a duration like'],
  ['retention under an hour', { 'store.retention': '10m' }, 'store.retention', 'must be at least 1h'],
  ['zero duration', { 'audit.checkpoint_every': '0s' }, 'audit.checkpoint_every', 'greater than zero'],
  [
    'default_ttl over max_ttl',
    { 'tokens.default_ttl': '2h' },
    'tokens.default_ttl',
    'must not exceed tokens.max_ttl (1h)',
  ],
  ['max_ttl over 12h', { 'tokens.max_ttl': '13h' }, 'tokens.max_ttl', 'at most 12h'],
  ['ttl below a second', { 'tokens.default_ttl': '1500ms' }, 'tokens.default_ttl', 'whole number of seconds'],
  ['bad algorithm', { 'tokens.algorithm': 'RS256' }, 'tokens.algorithm', 'expected EdDSA or ES256'],
  // secrets and the store
  [
    'literal bot token',
    { 'slack.bot_token': 'xoxb-literal' },
    'slack.bot_token',
    'must be a secret reference (env:, file: or vault:), not a literal',
  ],
  [
    'literal signing key',
    { 'tokens.signing_key': 'MC4CAQAwBQYDK2VwBCIEI' },
    'tokens.signing_key',
    'must be a secret reference',
  ],
  ['literal master key', { 'vault.master_key': 'abc' }, 'vault.master_key', 'must be a secret reference'],
  [
    'missing env var',
    { 'slack.signing_secret': 'env:NOPE_SECRET' },
    'slack.signing_secret',
    'environment variable NOPE_SECRET is not set',
  ],
  [
    'master key of the wrong length',
    { 'vault.master_key': 'env:SHORT_KEY' },
    'vault.master_key',
    'expected base64 of exactly 32 bytes',
  ],
  [
    'missing file',
    { 'tokens.signing_key': 'file:nope.pem' },
    'tokens.signing_key',
    `cannot read ${join(dir, 'nope.pem')}`,
  ],
  ['slack without channel', { 'slack.channel': undefined }, 'slack.channel', 'required'],
  [
    'missing redis url',
    { 'store.redis_url': undefined },
    'store.redis_url',
    'required (a redis:// or rediss:// URL), or store.sentinel or store.cluster',
  ],
  [
    'non-redis url',
    { 'store.redis_url': 'http://localhost:6379' },
    'store.redis_url',
    'expected a redis:// or rediss:// URL',
  ],
  [
    'vault file backend without file',
    { 'vault.backend': 'file' },
    'vault.file',
    'required with backend: file',
  ],
  // providers
  [
    'unknown provider type',
    { 'providers[1]': { name: 'x1', type: 'x' } },
    'providers[1].type',
    "provider 'x1' has unknown type 'x'",
  ],
  [
    'a jwt provider with a key of another type',
    { 'providers[0]': { name: 'internal-api', type: 'jwt', audience: 'a', region: 'us-east-1' } },
    'providers[0].region',
    'unknown key',
  ],
  [
    'provider option problem',
    { 'providers[0].audiense': 'x' },
    'providers[0].audiense',
    'unknown key for a jwt provider',
  ],
  ['provider without a type', { 'providers[0].type': undefined }, 'providers[0].type', 'required'],
]

describe('bad configs', () => {
  it.each(BAD)('%s', (_name, edits, path, fragment) => {
    const problems = problemsOf(edited(edits))
    expect(problems).toEqual([{ path, message: expect.stringContaining(fragment) }])
  })

  it('reports several problems at once, each with its path', () => {
    const problems = problemsOf(
      edited({
        'server.port': 'abc',
        'agents[0].owner': 'zed',
        'policies[2].approvals': 1,
        'tokens.max_ttl': '1 h',
      }),
    )
    expect(problems.map((p) => p.path).sort()).toEqual([
      'agents[0].owner',
      'policies[2].approvals',
      'server.port',
      'tokens.max_ttl',
    ])
    expect(() => parseConfig(edited({ 'server.port': 'abc' }), OPTS)).toThrow(
      /server\.port: expected an integer/,
    )
  })

  it('reports YAML syntax errors with their line', () => {
    const problems = problemsOf('server:\n  port: 8080\n  host: [1, 2\nstore: {}\n')
    expect(problems).toHaveLength(1)
    expect(problems[0]?.message).toMatch(/^YAML syntax error at line 4, column 1: /)
    expect(problemsOf('a: 1\na: 2\n')[0]?.message).toContain('line 2')
    expect(problemsOf('')).toEqual([{ path: '', message: 'the config is empty' }])
    expect(problemsOf('- 1\n')[0]).toEqual({ path: '', message: 'expected a mapping (key: value)' })
  })
})

describe('secrets', () => {
  it('resolves file: relative to the config directory, stripping one newline', () => {
    writeFileSync(join(dir, 'slack-secret.txt'), 'from-file\n\n')
    const c = parseConfig(edited({ 'slack.signing_secret': 'file:slack-secret.txt' }), OPTS)
    expect(c.slack?.signingSecret).toBe('from-file\n')
  })

  it('resolveRef handles env:, file: and vault:', () => {
    writeFileSync(join(dir, 'crlf.txt'), 'value\r\n')
    const opts = { baseDir: dir, env: { SET: 'v', EMPTY: '' } }
    expect(resolveRef('env:SET', opts)).toBe('v')
    expect(resolveRef('file:crlf.txt', opts)).toBe('value')
    expect(() => resolveRef('env:EMPTY', opts)).toThrow('environment variable EMPTY is not set')
    expect(() => resolveRef('vault:x', opts)).toThrow('a vault: reference cannot be used here')
    expect(() => resolveRef('plain', opts)).toThrow('not a literal')
  })

  it('an empty or blank env: or file: secret is a config error naming its field and source', () => {
    writeFileSync(join(dir, 'empty.txt'), '')
    writeFileSync(join(dir, 'blank.txt'), '  \n')
    const blankEnv = { ...OPTS, env: { ...ENV, BLANK: ' ' } }
    expect(problemsOf(edited({ 'slack.signing_secret': 'file:empty.txt' }))).toEqual([
      { path: 'slack.signing_secret', message: `file ${join(dir, 'empty.txt')} is empty` },
    ])
    expect(problemsOf(edited({ 'slack.bot_token': 'file:blank.txt' }))).toEqual([
      { path: 'slack.bot_token', message: `file ${join(dir, 'blank.txt')} is empty` },
    ])
    expect(problemsOf(edited({ 'tokens.signing_key': 'file:empty.txt' }))).toEqual([
      { path: 'tokens.signing_key', message: `file ${join(dir, 'empty.txt')} is empty` },
    ])
    expect(
      problemsOf(edited({ 'vault.master_key': undefined }), {
        ...OPTS,
        env: { ...ENV, AIRLOCK_MASTER_KEY: '' },
      }),
    ).toEqual([
      { path: 'AIRLOCK_MASTER_KEY', message: 'is set but empty (unset it, or give the base64 of 32 bytes)' },
    ])
    expect(problemsOf(edited({ 'slack.signing_secret': 'env:BLANK' }), blankEnv)).toEqual([
      { path: 'slack.signing_secret', message: 'environment variable BLANK is empty' },
    ])
  })

  it('never echoes a secret value, even beside other problems', () => {
    const canary = 'CANARY-8d1f3b'
    writeFileSync(join(dir, 'canary.txt'), `${canary}\n`)
    const cases = [
      // resolved fine, but another problem is reported
      { 'slack.bot_token': 'file:canary.txt', 'slack.signing_secret': 'file:canary.txt', 'server.port': -1 },
      // resolved, but not a PEM
      { 'tokens.signing_key': 'file:canary.txt' },
      // resolved, but not a redis URL
      { 'store.redis_url': 'file:canary.txt' },
      { 'store.redis_url': `http://user:${canary}@localhost` },
      // literals where references belong
      { 'slack.bot_token': canary, 'vault.master_key': canary },
    ]
    for (const edits of cases) {
      let thrown: unknown
      try {
        parseConfig(edited(edits), OPTS)
      } catch (e) {
        thrown = e
      }
      expect(thrown).toBeInstanceOf(ConfigError)
      const err = thrown as ConfigError
      expect(err.problems.length).toBeGreaterThan(0)
      expect(`${err.message} ${JSON.stringify(err.problems)}`).not.toContain(canary)
    }
    const yamlError = problemsOf(`slack:\n  bot_token: ${canary}\n  x: [\n`)
    expect(JSON.stringify(yamlError)).not.toContain(canary)
  })
})

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['90d', 90 * 86_400_000],
  ])('%s is %i ms and formats back', (s, ms) => {
    expect(parseDuration(s)).toBe(ms)
    expect(parseDuration(formatDuration(ms))).toBe(ms)
  })

  it.each(['', '15', '1.5h', '15 m', '-1s', '1w', 'h', '1h30m', ' 1h'])('rejects %j', (s) => {
    expect(() => parseDuration(s)).toThrow('expected a duration like 90s, 15m, 1h')
  })

  it('allows zero only when asked', () => {
    expect(() => parseDuration('0s')).toThrow('greater than zero')
    expect(parseDuration('0s', { allowZero: true })).toBe(0)
    expect(formatDuration(5_400_000)).toBe('90m')
    expect(formatDuration(1500)).toBe('1500ms')
  })
})
