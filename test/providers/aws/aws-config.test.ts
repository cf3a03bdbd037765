// Validation of the aws provider's config section: every problem with its full path.
import { afterAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { sessionPolicy } from '../../../providers/aws/policy.js'
import { EXAMPLE, exampleLoadOptions, loadProblems } from '../../support/example-config.js'

const { opts: OPTS, cleanup } = exampleLoadOptions('aws-config')
afterAll(cleanup)
const P = 'providers[1]'
const STAGING = 'arn:aws:iam::111111111111:role/airlock-staging'

/** The example (without postgres, not built yet) with edits to the aws provider, then its problems. */
function problems(edit: (aws: Record<string, any>) => void) {
  const doc = parse(EXAMPLE) as Record<string, any>
  doc['providers'] = doc['providers'].filter((p: { type: string }) => p.type !== 'postgres')
  edit(doc['providers'][1])
  return loadProblems(stringify(doc), OPTS)
}

describe('aws provider config', () => {
  it('the example loads', () => {
    expect(problems(() => {})).toEqual([])
  })

  it.each([
    ['unknown key', (a: any) => (a.regoin = 'x'), `${P}.regoin`, 'unknown key for an aws provider'],
    [
      'unknown key in an environment',
      (a: any) => (a.environments.staging.rol_arn = STAGING),
      `${P}.environments.staging.rol_arn`,
      'unknown key for an aws provider',
    ],
    [
      'unknown key in a class',
      (a: any) => (a.operation_classes.read.action = ['s3:GetObject']),
      `${P}.operation_classes.read.action`,
      'unknown key',
    ],
    [
      'missing role_arn',
      (a: any) => delete a.environments.staging.role_arn,
      `${P}.environments.staging.role_arn`,
      'required',
    ],
    [
      'bad ARN (short account)',
      (a: any) => (a.environments.staging.role_arn = 'arn:aws:iam::1111:role/x'),
      `${P}.environments.staging.role_arn`,
      'is not an IAM role ARN',
    ],
    [
      'bad ARN (a user, not a role)',
      (a: any) => (a.environments.prod.admin_role_arn = 'arn:aws:iam::222222222222:user/admin'),
      `${P}.environments.prod.admin_role_arn`,
      'is not an IAM role ARN',
    ],
    [
      'environment not in the config',
      (a: any) => (a.environments.dev = { role_arn: 'arn:aws:iam::333333333333:role/dev' }),
      `${P}.environments.dev`,
      "unknown environment 'dev'",
    ],
    [
      'class not in the config',
      (a: any) => (a.operation_classes.admin = { actions: ['*'] }),
      `${P}.operation_classes.admin`,
      "unknown operation class 'admin'",
    ],
    [
      'a read class that can delete',
      (a: any) => (a.operation_classes.read = { actions: ['s3:GetObject', 's3:DeleteObject'] }),
      `${P}.operation_classes.read.actions[1]`,
      "'s3:DeleteObject' can destroy (*:Delete*: deletes a resource or its data): only a class marked destructive: true (two approvals) may have it",
    ],
    [
      'a write class with a service wildcard',
      (a: any) => (a.operation_classes.write = { actions: ['ec2:*'] }),
      `${P}.operation_classes.write.actions[0]`,
      "'ec2:*' can destroy",
    ],
    [
      'a write class with everything',
      (a: any) => (a.operation_classes.write = { actions: ['*'] }),
      `${P}.operation_classes.write.actions[0]`,
      "'*' can destroy",
    ],
    [
      'one role for two environments',
      (a: any) => (a.environments.prod.role_arn = STAGING),
      `${P}.environments.prod.role_arn`,
      'the same role as environments.staging',
    ],
    [
      'one role for two environments, spelt in another case (IAM role names ignore case)',
      (a: any) => (a.environments.prod.role_arn = 'arn:aws:iam::111111111111:role/Airlock-Staging'),
      `${P}.environments.prod.role_arn`,
      'the same role as environments.staging',
    ],
    [
      'one role for two environments, under another path (a name is unique in its account)',
      (a: any) => (a.environments.prod.role_arn = 'arn:aws:iam::111111111111:role/team/airlock-staging'),
      `${P}.environments.prod.role_arn`,
      'the same role as environments.staging',
    ],
    [
      'a literal key',
      (a: any) => (a.credentials = 'AKIAIOSFODNN7EXAMPLE'),
      `${P}.credentials`,
      'not a literal',
    ],
    ['no credentials', (a: any) => delete a.credentials, `${P}.credentials`, 'required'],
    ['bad region', (a: any) => (a.region = 'mars'), `${P}.region`, 'not an AWS region'],
    [
      'bad action',
      (a: any) => (a.operation_classes.read.actions[1] = 's3 GetObject'),
      `${P}.operation_classes.read.actions[1]`,
      'expected an IAM action',
    ],
    [
      'no actions',
      (a: any) => (a.operation_classes.read.actions = []),
      `${P}.operation_classes.read.actions`,
      'non-empty',
    ],
    [
      'session policy over 2,048 characters',
      (a: any) =>
        (a.operation_classes.read.actions = Array.from(
          { length: 80 },
          (_, i) => `s3:GetObjectVersionAttributes${i}`,
        )),
      `${P}.operation_classes.read.actions`,
      'STS allows 2048',
    ],
    [
      'too short for STS',
      (a: any) => (a.max_session_duration = '10m'),
      `${P}.max_session_duration`,
      'between 15m and 12h',
    ],
    [
      'bad external id',
      (a: any) => (a.environments.prod.external_id = 'x'),
      `${P}.environments.prod.external_id`,
      '2-1224 characters',
    ],
    [
      'bad condition',
      (a: any) => (a.environments.staging.condition = { StringEquals: 'staging' }),
      `${P}.environments.staging.condition.StringEquals`,
      'IAM condition block',
    ],
    [
      'bad resources',
      (a: any) => (a.environments.staging.resources = ['bucket-name']),
      `${P}.environments.staging.resources[0]`,
      'expected an ARN pattern like arn:aws:s3:::bucket/*',
    ],
    ['bad endpoint', (a: any) => (a.sts_endpoint = 'localhost:4566'), `${P}.sts_endpoint`, 'URL'],
    [
      'budget over the quota',
      (a: any) => (a.deny_policy_max_chars = 20_000),
      `${P}.deny_policy_max_chars`,
      '10240',
    ],
    ['no environments', (a: any) => delete a.environments, `${P}.environments`, 'required'],
  ])('%s', (_name, edit, path, fragment) => {
    expect(problems(edit)).toEqual([{ path, message: expect.stringContaining(fragment) }])
  })

  it('counts the spaces in a condition against the 2,048 characters STS allows (it counts them)', () => {
    // 55 values with 6 spaces each: over 2,048 characters as sent, under it without the spaces.
    const teams = Array.from(
      { length: 55 },
      (_, i) => `team ${String(i).padStart(2, '0')} with a name of many words`,
    )
    const condition = { StringEquals: { 'aws:ResourceTag/team': teams } }
    const sent = JSON.stringify(
      sessionPolicy('read', ['ec2:Describe*', 's3:GetObject', 's3:ListBucket', 'rds:Describe*'], {
        resources: ['*'],
        condition,
      }),
    )
    expect(sent.length).toBeGreaterThan(2048)
    expect(sent.replace(/\s/g, '').length).toBeLessThanOrEqual(2048)
    const found = problems((a) => (a.environments.staging.condition = condition))
    expect(found.map((p) => p.path).sort()).toEqual(
      ['destructive', 'read', 'write'].map((c) => `${P}.operation_classes.${c}.actions`),
    )
    expect(found[0]?.message).toMatch(/environment 'staging'.*STS allows 2048/)
  })

  it('an unknown key names the known key it is closest to', () => {
    expect(problems((a) => (a.regoin = 'us-east-1'))).toEqual([
      { path: `${P}.regoin`, message: "unknown key for an aws provider (did you mean 'region'?)" },
    ])
  })

  it('reports several problems at once', () => {
    const found = problems((a) => {
      a.environments.staging.role_arn = 'nope'
      a.environments.dev = { role_arn: 'arn:aws:iam::333333333333:role/dev' }
      a.operation_classes.admin = { actions: ['*'] }
      a.colour = 'blue'
    })
    expect(found.map((p) => p.path).sort()).toEqual([
      `${P}.colour`,
      `${P}.environments.dev`,
      `${P}.environments.staging.role_arn`,
      `${P}.operation_classes.admin`,
    ])
  })

  it('a destructive class may have destroying actions, and a prefix that cannot destroy is fine', async () => {
    const { mayDestroy } = await import('../../../providers/aws/config.js')
    expect(problems((a) => (a.operation_classes.destructive = { actions: ['*'] }))).toEqual([])
    expect(
      problems((a) => (a.operation_classes.read = { actions: ['ec2:Describe*', 's3:Get*', 's3:List*'] })),
    ).toEqual([])
    expect(
      ['ec2:Describe*', 's3:GetObject', 's3:PutObject', 'ec2:CreateTags', 'rds:List*'].map(mayDestroy),
    ).toEqual([false, false, false, false, false])
    expect(
      [
        '*',
        'ec2:*',
        'ec2:D*',
        'ec2:Del*',
        'ec2:deletevolume',
        'rds:DeleteDBInstance',
        'ec2:TerminateInstances',
        'iam:Detach*',
        's3:?elete*',
      ].map(mayDestroy),
    ).toEqual([true, true, true, true, true, true, true, true, true])
  })

  it('accepts the optional keys', () => {
    expect(
      problems((a) => {
        a.credentials = 'ambient'
        a.max_session_duration = '2h'
        a.deny_policy_name = 'airlock-deny'
        a.deny_policy_max_chars = 4096
        a.sts_endpoint = 'https://sts.eu-west-1.amazonaws.com'
        a.environments.prod.external_id = 'ext-123:abc'
        a.environments.staging.resources = ['arn:aws:s3:::staging-*', 'arn:aws:ec2:*:111111111111:*']
        a.environments.staging.condition = { StringEquals: { 'aws:ResourceTag/environment': ['staging'] } }
      }),
    ).toEqual([])
  })
})
