// The session policies the aws provider sends, evaluated by a real IAM policy simulator, and the
// small rules that make values fit STS.
import { describe, expect, it } from 'vitest'
import { parseBrokerKey } from '../../../providers/aws/clients.js'
import { credentialProcessOutput } from '../../../providers/aws/credential-process.js'
import { deniedBy, denyPolicy, sessionPolicy, stsName, tagValue } from '../../../providers/aws/policy.js'
import { durationFor } from '../../../providers/aws/provider.js'
import { ACTIONS } from '../../support/aws-setup.js'
import { simulate } from '../../support/simulate.js'

const ACCOUNT = '111111111111'
const RES = {
  volume: `arn:aws:ec2:eu-west-1:${ACCOUNT}:volume/vol-0123456789abcdef0`,
  db: `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders`,
  object: 'arn:aws:s3:::staging-data/reports/a.csv',
  bucket: 'arn:aws:s3:::staging-data',
  instance: `arn:aws:ec2:eu-west-1:${ACCOUNT}:instance/i-0123456789abcdef0`,
}
const DESTRUCTIVE_CALLS = [
  ['ec2:DeleteVolume', RES.volume],
  ['rds:DeleteDBInstance', RES.db],
  ['s3:DeleteObject', RES.object],
] as const
const policyFor = (cls: keyof typeof ACTIONS, condition: any = null) =>
  sessionPolicy(cls, ACTIONS[cls], { resources: ['*'], condition })

describe('session policies, simulated (the role itself may do anything)', () => {
  it.each(['read', 'write'] as const)('a %s session is denied every destructive call', async (cls) => {
    for (const [action, resource] of DESTRUCTIVE_CALLS) {
      expect(await simulate({ action, resource, sessionPolicy: policyFor(cls) }), action).toBe(
        'ImplicitlyDenied',
      )
    }
    expect(
      await simulate({
        action: 'ec2:TerminateInstances',
        resource: RES.instance,
        sessionPolicy: policyFor(cls),
      }),
    ).toBe('ImplicitlyDenied')
    expect(
      await simulate({
        action: 'iam:CreateUser',
        resource: `arn:aws:iam::${ACCOUNT}:user/x`,
        sessionPolicy: policyFor(cls),
      }),
    ).toBe('ImplicitlyDenied')
  })

  it('a read session may read; a write session may also write', async () => {
    expect(
      await simulate({ action: 's3:GetObject', resource: RES.object, sessionPolicy: policyFor('read') }),
    ).toBe('Allowed')
    expect(
      await simulate({ action: 'ec2:DescribeVolumes', resource: '*', sessionPolicy: policyFor('read') }),
    ).toBe('Allowed')
    expect(
      await simulate({ action: 's3:PutObject', resource: RES.object, sessionPolicy: policyFor('read') }),
    ).toBe('ImplicitlyDenied')
    expect(
      await simulate({ action: 's3:PutObject', resource: RES.object, sessionPolicy: policyFor('write') }),
    ).toBe('Allowed')
    expect(
      await simulate({ action: 'ec2:CreateTags', resource: RES.volume, sessionPolicy: policyFor('write') }),
    ).toBe('Allowed')
  })

  it('a destructive session is allowed only its listed actions', async () => {
    for (const [action, resource] of DESTRUCTIVE_CALLS) {
      expect(await simulate({ action, resource, sessionPolicy: policyFor('destructive') }), action).toBe(
        'Allowed',
      )
    }
    for (const [action, resource] of [
      ['s3:GetObject', RES.object],
      ['s3:DeleteBucket', RES.bucket],
      ['ec2:TerminateInstances', RES.instance],
      ['ec2:DescribeVolumes', '*'],
      ['rds:DeleteDBCluster', `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:orders`],
    ] as const) {
      expect(await simulate({ action, resource, sessionPolicy: policyFor('destructive') }), action).toBe(
        'ImplicitlyDenied',
      )
    }
  })

  it('never widens the role: what the role does not allow stays denied', async () => {
    const roleAllowsReadsOnly = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Deny', NotAction: ['s3:GetObject', 'ec2:Describe*'], Resource: '*' }],
    }
    expect(
      await simulate({
        action: 'ec2:DeleteVolume',
        resource: RES.volume,
        rolePolicies: [roleAllowsReadsOnly],
        sessionPolicy: policyFor('destructive'),
      }),
    ).toBe('ExplicitlyDenied')
  })

  it('per-environment conditions narrow further (resource tags)', async () => {
    const policy = policyFor('destructive', { StringEquals: { 'aws:ResourceTag/environment': 'staging' } })
    const on = (env: string) =>
      simulate({
        action: 'ec2:DeleteVolume',
        resource: RES.volume,
        sessionPolicy: policy,
        context: { 'aws:ResourceTag/environment': env },
      })
    expect(await on('staging')).toBe('Allowed')
    expect(await on('prod')).toBe('ImplicitlyDenied')
  })
})

describe('fitting STS', () => {
  it('credentials last at least 900 s, a second short of the session otherwise, at most the role maximum', () => {
    const now = 1_000_000
    expect(durationFor(now + 60_000, now, 3600)).toBe(900)
    expect(durationFor(now + 1200_000, now, 3600)).toBe(1199)
    expect(durationFor(now + 1200_500, now, 3600)).toBe(1199)
    expect(durationFor(now + 7200_000, now, 3600)).toBe(3600)
    expect(durationFor(now - 5000, now, 3600)).toBe(900)
  })

  it('tag values and names are made acceptable to STS', () => {
    expect(tagValue('JIRA-1 a/b:c=d+e@f_g.h')).toBe('JIRA-1 a/b:c=d+e@f_g.h')
    expect(tagValue('rm -rf "$HOME"; <x>')).toBe('rm -rf __HOME__ _x_')
    expect(tagValue('ü'.repeat(300))).toHaveLength(256)
    expect(tagValue('😀'.repeat(300))).toBe('_'.repeat(256)) // symbols are not letters
    expect(stsName('build-bot')).toBe('build-bot')
    expect(stsName('a')).toBe('a_')
    expect(stsName('aws:bot/evil name')).toBe('aws_bot_evil_name')
    expect(stsName('x'.repeat(100))).toHaveLength(64)
  })

  it('the deny policy names exactly the given sessions and cutoff, and reads back the same', () => {
    expect(denyPolicy([], null)).toBeNull()
    const doc = denyPolicy(['AROAB:ses_2', 'AROAB:ses_1'], '2030-01-01T00:00:00Z')!
    expect(doc.Statement.map((s) => s.Sid)).toEqual(['AirlockRevokedSessions', 'AirlockRevokedBefore'])
    const back = deniedBy(JSON.parse(decodeURIComponent(encodeURIComponent(JSON.stringify(doc)))))
    expect([...back.userIds].sort()).toEqual(['AROAB:ses_1', 'AROAB:ses_2'])
    expect(back.cutoff).toBe('2030-01-01T00:00:00Z')
    expect(
      deniedBy({ Statement: { Effect: 'Deny', Condition: { StringEquals: { 'aws:userid': 'one' } } } })
        .userIds,
    ).toEqual(new Set(['one']))
  })

  it("the broker's key secret: JSON with two fields; errors never quote the value", () => {
    expect(
      parseBrokerKey('{"access_key_id":"AKIA1","secret_access_key":"s3cr3t"}', 'vault:aws/broker'),
    ).toEqual({
      accessKeyId: 'AKIA1',
      secretAccessKey: 's3cr3t',
    })
    for (const bad of [
      's3cr3t-not-json',
      '{"access_key_id":"AKIA1"}',
      '{"access_key_id":"AKIA1","secret_access_key":"s3cr3t","x":1}',
      '{"access_key_id":"AKIA1","secret_access_key":""}',
      '{"access_key_id":" ","secret_access_key":"s3cr3t"}',
      '{"access_key_id":"AKIA1","secret_access_key":"s3cr3t","session_token":""}',
    ]) {
      let message = ''
      try {
        parseBrokerKey(bad, 'vault:aws/broker')
      } catch (e) {
        message = (e as Error).message
      }
      expect(message).toContain('vault:aws/broker')
      expect(message).not.toContain('s3cr3t')
    }
  })

  it('credential_process output expires at the earlier of the session and the credentials', () => {
    const grant = (session: string, creds: string) => ({
      expires_at: session,
      credentials: {
        access_key_id: 'ASIA1',
        secret_access_key: 'sk',
        session_token: 'tok',
        expiration: creds,
        region: 'eu-west-1',
      },
    })
    expect(
      credentialProcessOutput(grant('2030-01-01T00:02:00.000Z', '2030-01-01T00:15:00.000Z')).Expiration,
    ).toBe('2030-01-01T00:02:00.000Z')
    expect(credentialProcessOutput(grant('2030-01-01T01:00:00.000Z', '2030-01-01T00:59:59.000Z'))).toEqual({
      Version: 1,
      AccessKeyId: 'ASIA1',
      SecretAccessKey: 'sk',
      SessionToken: 'tok',
      Expiration: '2030-01-01T00:59:59.000Z',
    })
    expect(() => credentialProcessOutput({ expires_at: '2030-01-01T00:00:00Z', credentials: {} })).toThrow(
      'no aws credential',
    )
  })
})
