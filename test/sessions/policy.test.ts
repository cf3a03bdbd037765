import { describe, expect, it } from 'vitest'
import type { PolicyRule } from '../../src/config/types.js'
import { matches } from '../../src/glob.js'
import { decide, type Decision, type DecisionInput, type PolicyView } from '../../src/policy/decide.js'
import { entitlementsOf } from '../../src/policy/entitlements.js'

let index = 0
const rule = (r: Partial<PolicyRule> & Pick<PolicyRule, 'description'>): PolicyRule => ({
  index: index++,
  effect: 'allow',
  agents: ['*'],
  environments: ['*'],
  operationClasses: ['*'],
  providers: ['*'],
  approvals: 0,
  approvers: null,
  maxTtlSeconds: null,
  ...r,
})

const FREE = 'build-bot works freely in staging'
const PROD_READ = 'reading prod needs one engineer'
const DESTROY = 'anything destructive needs two engineers'
const NO_DESTROY = 'build-bot never destroys prod'

// Mirrors the policies of airlock.example.yaml.
const examplePolicies = [
  rule({
    description: FREE,
    agents: ['build-bot'],
    environments: ['staging'],
    operationClasses: ['read', 'write'],
    maxTtlSeconds: 1800,
  }),
  rule({ description: PROD_READ, environments: ['prod'], operationClasses: ['read'], approvals: 1 }),
  rule({
    description: DESTROY,
    operationClasses: ['destructive'],
    approvals: 2,
    approvers: ['alice', 'bob', 'carol'],
    maxTtlSeconds: 900,
  }),
  rule({
    description: NO_DESTROY,
    effect: 'deny',
    agents: ['build-bot'],
    environments: ['prod'],
    operationClasses: ['destructive'],
  }),
]

const human = (id: string, ...roles: ('approver' | 'operator' | 'admin')[]) => ({
  id,
  roles,
  slackUserId: null,
  apiKeySha256: null,
  email: null,
  oidcSubject: null,
})
const agent = (id: string, ...owners: string[]) => ({ id, owners, apiKeySha256: null, oidc: null })

const view = (policies: PolicyRule[], overrides: Partial<PolicyView> = {}): PolicyView =>
  deepFreeze({
    policies,
    operationClasses: [
      { name: 'read', destructive: false },
      { name: 'write', destructive: false },
      { name: 'destructive', destructive: true },
    ],
    humans: [
      human('alice', 'approver'),
      human('bob', 'approver', 'operator'),
      human('carol', 'approver'),
      human('ops', 'operator', 'admin'),
    ],
    agents: [agent('build-bot', 'alice'), agent('deploy-bot', 'bob'), agent('team-bot', 'alice', 'bob')],
    maxTtlSeconds: 3600,
    ...overrides,
  })

// Frozen fixtures make any mutation by decide() throw, which would break its purity.
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

const req = (
  agentId: string,
  environment: string,
  operationClass: string,
  onBehalfOf: string | null = null,
  provider = 'aws-main',
): DecisionInput => ({ agent: agentId, environment, operationClass, provider, onBehalfOf })

const allow = (
  rules: string[],
  approvals: number,
  maxTtlSeconds: number,
  eligibleApprovers: string[],
  reason: string,
  ttlRule: string | null = null,
): Decision => ({ allow: true, reason, rules, approvals, maxTtlSeconds, ttlRule, eligibleApprovers })
const deny = (reason: string, ruleName: string | null): Decision => ({ allow: false, reason, rule: ruleName })

describe('matches', () => {
  it.each([
    ['*', 'build-bot', true],
    ['*', '', true],
    ['build-bot', 'build-bot', true],
    ['build-bot', 'build-bot2', false],
    ['build-bot', 'Build-bot', false],
    ['build-*', 'build-bot', true],
    ['build-*', 'build-', true],
    ['build-*', 'deploy-bot', false],
    ['build-*', 'xbuild-bot', false], // anchored at the start
    ['*-bot', 'build-bot', true],
    ['*-bot', 'build-bot-2', false], // anchored at the end
    ['b*d*t', 'build-bot', true],
    ['a*a', 'a', false],
    // Regex syntax is literal.
    ['build.bot', 'buildxbot', false],
    ['build.bot', 'build.bot', true],
    ['a+', 'aa', false],
    ['[ab]', 'a', false],
    ['(a|b)', 'a', false],
    ['^build$', 'build', false],
    ['b?t', 'bat', false],
    ['.*', 'anything', false],
  ])('%j vs %j -> %s', (pattern, value, expected) => {
    expect(matches(pattern, value)).toBe(expected)
  })

  it('does not backtrack exponentially', () => {
    const started = performance.now()
    expect(matches('*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(20_000))).toBe(false)
    expect(performance.now() - started).toBeLessThan(1000)
  })
})

describe('decide with the example policies', () => {
  const v = view(examplePolicies)
  it.each<[string, DecisionInput, Decision]>([
    [
      'allows a free staging read, capped by the rule ttl',
      req('build-bot', 'staging', 'read'),
      allow([FREE], 0, 1800, ['bob', 'carol'], `allowed by "${FREE}"`, FREE),
    ],
    [
      'denies by default',
      req('build-bot', 'prod', 'write'),
      deny('no rule lets build-bot use write on prod with aws-main', null),
    ],
    [
      'matches agent ids exactly',
      req('deploy-bot', 'staging', 'write', null, 'app-db'),
      deny('no rule lets deploy-bot use write on staging with app-db', null),
    ],
    [
      'lets an explicit deny win over a matching allow',
      req('build-bot', 'prod', 'destructive'),
      deny(`denied by policy "${NO_DESTROY}"`, NO_DESTROY),
    ],
    [
      'uses the global max ttl when no rule sets one, excluding the owner',
      req('deploy-bot', 'prod', 'read'),
      allow([PROD_READ], 1, 3600, ['alice', 'carol'], `allowed by "${PROD_READ}"; needs 1 approval`),
    ],
    [
      'excludes on_behalf_of as well as the owner',
      req('build-bot', 'prod', 'read', 'carol'),
      allow([PROD_READ], 1, 3600, ['bob'], `allowed by "${PROD_READ}"; needs 1 approval`),
    ],
    [
      'lets a wildcard rule cover an agent with no config entry',
      req('ghost-bot', 'prod', 'read'),
      allow([PROD_READ], 1, 3600, ['alice', 'bob', 'carol'], `allowed by "${PROD_READ}"; needs 1 approval`),
    ],
    [
      'needs two for destructive in staging',
      req('deploy-bot', 'staging', 'destructive'),
      allow([DESTROY], 2, 900, ['alice', 'carol'], `allowed by "${DESTROY}"; needs 2 approvals`, DESTROY),
    ],
    [
      'denies when owner plus on_behalf_of leave too few approvers',
      req('deploy-bot', 'staging', 'destructive', 'alice'),
      deny('needs 2 approvals but only 1 eligible approver(s) exist for deploy-bot', DESTROY),
    ],
    [
      'denies when several owners leave too few approvers',
      req('team-bot', 'prod', 'destructive'),
      deny('needs 2 approvals but only 1 eligible approver(s) exist for team-bot', DESTROY),
    ],
    [
      'counts an on_behalf_of who is also the owner once',
      req('build-bot', 'staging', 'destructive', 'alice'),
      allow([DESTROY], 2, 900, ['bob', 'carol'], `allowed by "${DESTROY}"; needs 2 approvals`, DESTROY),
    ],
  ])('%s', (_name, input, expected) => {
    expect(decide(v, input)).toEqual(expected)
  })
})

describe('decide: strictest of several allow rules', () => {
  const loose = rule({
    description: 'bots read staging',
    agents: ['*-bot'],
    environments: ['staging'],
    operationClasses: ['read'],
    approvals: 1,
    approvers: ['bob', 'carol', 'ops'],
    maxTtlSeconds: 1200,
  })
  const tight = rule({
    description: 'build bots read briefly',
    agents: ['build-*'],
    operationClasses: ['read'],
    approvers: ['carol', 'alice', 'nobody'],
    maxTtlSeconds: 600,
  })
  const open = rule({ description: 'anyone reads', operationClasses: ['read'] })
  const v = view([loose, tight, open])

  it.each<[string, DecisionInput, Decision]>([
    [
      'takes max approvals, min ttl and the approver intersection',
      req('build-bot', 'staging', 'read'),
      allow(
        ['bots read staging', 'build bots read briefly', 'anyone reads'],
        1,
        600,
        ['carol'],
        'allowed by "bots read staging", "build bots read briefly", "anyone reads"; needs 1 approval',
        'build bots read briefly',
      ),
    ],
    [
      'denies when the intersection is emptied by on_behalf_of',
      req('build-bot', 'staging', 'read', 'carol'),
      deny('needs 1 approvals but only 0 eligible approver(s) exist for build-bot', 'bots read staging'),
    ],
    [
      'drops a rule whose glob does not match',
      req('deploy-bot', 'staging', 'read'),
      allow(
        ['bots read staging', 'anyone reads'],
        1,
        1200,
        ['carol'],
        'allowed by "bots read staging", "anyone reads"; needs 1 approval',
        'bots read staging',
      ),
    ],
    [
      'still lists eligible approvers when none are needed',
      req('build-bot', 'prod', 'read'),
      allow(
        ['build bots read briefly', 'anyone reads'],
        0,
        600,
        ['carol'],
        'allowed by "build bots read briefly", "anyone reads"',
        'build bots read briefly',
      ),
    ],
    [
      'imposes no list when no matching rule lists approvers',
      req('deploy-bot', 'prod', 'read'),
      allow(['anyone reads'], 0, 3600, ['alice', 'carol'], 'allowed by "anyone reads"'),
    ],
  ])('%s', (_name, input, expected) => {
    expect(decide(v, input)).toEqual(expected)
  })

  it.each<[string, DecisionInput, Decision]>([
    [
      'ghost-bot',
      req('ghost-bot', 'prod', 'write'),
      allow(
        ['free', 'two'],
        2,
        3600,
        ['alice', 'bob', 'carol'],
        'allowed by "free", "two"; needs 2 approvals',
      ),
    ],
    [
      'team-bot',
      req('team-bot', 'prod', 'write'),
      deny('needs 2 approvals but only 1 eligible approver(s) exist for team-bot', 'two'),
    ],
  ])('takes approvals from a later, stricter rule (%s)', (_agent, input, expected) => {
    const policies = [rule({ description: 'free' }), rule({ description: 'two', approvals: 2 })]
    expect(decide(view(policies), input)).toEqual(expected)
  })

  it('ignores a listed approver who lacks the approver role', () => {
    const policies = [rule({ description: 'ops or carol', approvals: 1, approvers: ['ops', 'carol'] })]
    expect(decide(view(policies), req('deploy-bot', 'prod', 'read'))).toMatchObject({
      allow: true,
      eligibleApprovers: ['carol'],
    })
  })

  it('never lets a rule ttl exceed the global ceiling', () => {
    const d = decide(view([loose], { maxTtlSeconds: 300 }), req('build-bot', 'staging', 'read'))
    expect(d).toMatchObject({ allow: true, maxTtlSeconds: 300 })
  })

  it.each([
    ['before', [rule({ description: 'no prod', effect: 'deny', environments: ['prod'] }), open]],
    ['after', [open, rule({ description: 'no prod', effect: 'deny', environments: ['prod'] })]],
  ])('lets a deny listed %s the allow win', (_where, policies) => {
    expect(decide(view(policies), req('build-bot', 'prod', 'read'))).toEqual(
      deny('denied by policy "no prod"', 'no prod'),
    )
  })

  it.each([
    ['agents', { agents: [] }],
    ['environments', { environments: [] }],
    ['operation classes', { operationClasses: [] }],
    ['providers', { providers: ['app-db'] }],
  ])('requires every list to match (%s)', (_list, narrowed) => {
    const d = decide(view([rule({ description: 'narrow', ...narrowed })]), req('build-bot', 'prod', 'read'))
    expect(d).toEqual(deny('no rule lets build-bot use read on prod with aws-main', null))
  })
})

describe('decide: destructive classes need at least two approvals', () => {
  it.each([
    [0, 2],
    [1, 2],
    [3, 3],
  ])('a rule asking for %i yields %i', (asked, required) => {
    const policies = [
      rule({ description: 'hand-built', operationClasses: ['destructive'], approvals: asked }),
    ]
    const d = decide(view(policies), req('ghost-bot', 'prod', 'destructive'))
    expect(d).toEqual(
      allow(
        ['hand-built'],
        required,
        3600,
        ['alice', 'bob', 'carol'],
        `allowed by "hand-built"; needs ${required} approvals`,
      ),
    )
  })

  it('denies a zero-approval destructive rule when only one approver is eligible', () => {
    const policies = [
      rule({ description: 'hand-built', operationClasses: ['destructive'], approvers: ['carol'] }),
    ]
    expect(decide(view(policies), req('build-bot', 'prod', 'destructive'))).toEqual(
      deny('needs 2 approvals but only 1 eligible approver(s) exist for build-bot', 'hand-built'),
    )
  })

  it('does not count approvers who have no way to act', () => {
    const policies = [rule({ description: 'hand-built', operationClasses: ['destructive'], approvals: 2 })]
    const v = view(policies, { unreachable: new Set(['carol']) })
    expect(decide(v, req('build-bot', 'prod', 'destructive'))).toEqual(
      deny(
        'needs 2 approvals but only 1 eligible approver(s) exist for build-bot (carol has no API key, Slack id or console sign-in to approve with)',
        'hand-built',
      ),
    )
  })

  it('does not force approvals on a class that is not destructive', () => {
    const policies = [rule({ description: 'hand-built' })]
    expect(decide(view(policies), req('build-bot', 'prod', 'write'))).toMatchObject({
      allow: true,
      approvals: 0,
    })
  })
})

describe('entitlementsOf', () => {
  it("names the TTL a request gets: never above a provider's own ceiling", () => {
    const catalogue = {
      environments: ['staging'],
      classes: ['read'],
      providers: [
        ['aws-main', { supportsEnvironment: () => true }],
        ['github', { supportsEnvironment: () => true, maxTtlSeconds: 600 }],
      ] as [string, { supportsEnvironment(env: string): boolean; maxTtlSeconds?: number }][],
    }
    const listed = entitlementsOf(view(examplePolicies), 'build-bot', catalogue)
    expect(listed.map((e) => [e.provider, e.max_ttl_seconds, e.max_ttl_rule])).toEqual([
      ['aws-main', 1800, FREE],
      ['github', 600, 'provider github'],
    ])
  })
})
