// The reviewed list of destroying IAM actions (providers/aws/destructive.ts): a table of actions
// and wildcards that destroy without Delete in their name, each refused in a class not marked
// destructive with an error naming its path, and the everyday read/write actions still allowed.
import { afterAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import {
  actionsOverlap,
  DESTRUCTIVE_ACTIONS,
  destructiveMatch,
  patternsOverlap,
} from '../../../providers/aws/destructive.js'
import { parseConfig } from '../../../src/config/load.js'
import { EXAMPLE, exampleLoadOptions, loadProblems } from '../../support/example-config.js'

const { opts: OPTS, cleanup } = exampleLoadOptions('aws-destructive')
afterAll(cleanup)

/** The example with the aws provider's `write` class set to `actions`: the problems it reports. */
function writeClassProblems(actions: string[]) {
  const doc = parse(EXAMPLE) as Record<string, any>
  doc['providers'] = doc['providers'].filter((p: { type: string }) => p.type !== 'postgres')
  doc['providers'][1].operation_classes.write = { actions }
  return loadProblems(stringify(doc), OPTS)
}

// [action pattern in a write class, the entry that catches it]
const DESTROYING: [string, string][] = [
  ['kms:ScheduleKeyDeletion', 'kms:ScheduleKeyDeletion'],
  ['kms:DisableKey', '*:Disable*'],
  ['kms:*', '*:Delete*'],
  ['kms:Schedule*', 'kms:ScheduleKeyDeletion'],
  ['kms:PutKeyPolicy', '*:Put*Policy'],
  ['s3:PutLifecycleConfiguration', 's3:PutLifecycleConfiguration'],
  ['s3:PutBucketPolicy', '*:Put*Policy'],
  ['s3:PutBucketVersioning', 's3:PutBucketVersioning'],
  ['s3:Put*', '*:Put*Policy'],
  ['s3:putlifecycle*', '*:Put*Policy'],
  ['iam:PutRolePolicy', '*:Put*Policy'],
  ['iam:PutUserPolicy', '*:Put*Policy'],
  ['iam:AttachRolePolicy', '*:Attach*Policy'],
  ['iam:Attach*', '*:Attach*Policy'],
  ['iam:UpdateAssumeRolePolicy', 'iam:UpdateAssumeRolePolicy'],
  ['iam:CreateAccessKey', 'iam:CreateAccessKey'],
  ['iam:PassRole', 'iam:PassRole'],
  ['ec2:TerminateInstances', '*:Terminate*'],
  ['ec2:ModifyInstanceAttribute', 'ec2:ModifyInstanceAttribute'],
  ['rds:ModifyDBInstance', 'rds:ModifyDBInstance'],
  ['rds:Modify*', 'rds:ModifyDBInstance'],
  ['rds:ModifyDB?nstance', 'rds:ModifyDBInstance'],
  ['dynamodb:UpdateTable', 'dynamodb:UpdateTable'],
  ['cloudtrail:StopLogging', 'cloudtrail:StopLogging'],
  ['lambda:AddPermission', '*:AddPermission'],
  ['sqs:Purge*', '*:Purge*'],
  ['*', '*:Delete*'],
  // Destroying without the word, lasting access, ways past revocation, and sharing.
  ['dynamodb:PartiQLDelete', '*:PartiQLDelete'],
  ['ecr:BatchDeleteImage', '*:Batch*Delete*'],
  ['dynamodb:BatchWriteItem', 'dynamodb:BatchWriteItem'],
  ['ec2:ReleaseAddress', '*:Release*'],
  ['iam:CreateLoginProfile', 'iam:CreateLoginProfile'],
  ['iam:UpdateLoginProfile', 'iam:UpdateLoginProfile'],
  ['iam:CreateServiceSpecificCredential', 'iam:CreateServiceSpecificCredential'],
  ['iam:UploadSSHPublicKey', 'iam:Upload*'],
  ['iam:AddUserToGroup', 'iam:AddUserToGroup'],
  ['sts:AssumeRole', 'sts:AssumeRole*'],
  ['ssm:SendCommand', 'ssm:SendCommand'],
  ['lambda:UpdateFunctionCode', 'lambda:UpdateFunctionCode'],
  ['codebuild:StartBuild', 'codebuild:StartBuild'],
  ['codebuild:StartBuildBatch', 'codebuild:StartBuildBatch'],
  ['ssm:StartSession', 'ssm:StartSession'],
  ['ecs:ExecuteCommand', 'ecs:ExecuteCommand'],
  ['ec2-instance-connect:SendSSHPublicKey', 'ec2-instance-connect:Send*SSHPublicKey'],
  ['ec2-instance-connect:SendSerialConsoleSSHPublicKey', 'ec2-instance-connect:Send*SSHPublicKey'],
  ['lambda:UpdateFunctionConfiguration', 'lambda:UpdateFunctionConfiguration'],
  ['cloudformation:UpdateStack', 'cloudformation:UpdateStack*'],
  ['cloudformation:ExecuteChangeSet', 'cloudformation:ExecuteChangeSet'],
  ['route53:ChangeResourceRecordSets', 'route53:ChangeResourceRecordSets'],
  ['ec2:ModifyImageAttribute', 'ec2:ModifyImageAttribute'],
  ['s3:PutBucketAcl', '*:Put*Acl'],
  ['s3:PutBucketPublicAccessBlock', '*:Put*PublicAccessBlock'],
  ['ecr:SetRepositoryPolicy', '*:Set*Policy'],
  ['kms:CreateGrant', 'kms:CreateGrant'],
  ['ec2:ModifySnapshotAttribute', '*:Modify*SnapshotAttribute'],
  ['lambda:AddLayerVersionPermission', '*:Add*Permission'],
]

const SAFE = [
  'ec2:Describe*',
  'ec2:CreateTags',
  'ec2:StartInstances',
  's3:GetObject',
  's3:Get*',
  's3:List*',
  's3:PutObject',
  's3:PutObjectTagging',
  'rds:Describe*',
  'rds:List*',
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:GenerateDataKey*',
  'iam:Get*',
  'iam:List*',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'logs:PutLogEvents',
]

describe('destroying IAM actions', () => {
  it.each(DESTROYING)('%s in a write class is a config error naming its path (%s)', (action, entry) => {
    expect(destructiveMatch(action)?.pattern).toBe(entry)
    expect(writeClassProblems(['s3:GetObject', action])).toEqual([
      {
        path: 'providers[1].operation_classes.write.actions[1]',
        message: expect.stringContaining(`'${action}' can destroy (${entry}: `),
      },
    ])
  })

  it.each(SAFE)('%s is allowed in a write class', (action) => {
    expect(destructiveMatch(action)).toBeNull()
    expect(writeClassProblems([action])).toEqual([])
  })

  it('a destructive class may have all of them', () => {
    const doc = parse(EXAMPLE) as Record<string, any>
    doc['providers'] = doc['providers'].filter((p: { type: string }) => p.type !== 'postgres')
    doc['providers'][1].operation_classes.destructive = { actions: DESTROYING.map(([a]) => a) }
    expect(() => parseConfig(stringify(doc), OPTS)).not.toThrow()
  })

  it('every entry has a reason and a well-formed pattern', () => {
    for (const e of DESTRUCTIVE_ACTIONS) {
      expect(e.pattern).toMatch(/^(\*|[a-z0-9-]+):[A-Za-z*?]+$/)
      expect(e.reason.length).toBeGreaterThan(5)
    }
    expect(new Set(DESTRUCTIVE_ACTIONS.map((e) => e.pattern.toLowerCase())).size).toBe(
      DESTRUCTIVE_ACTIONS.length,
    )
  })

  it.each([
    ['a*', '*b', true],
    ['abc', 'a?c', true],
    ['a*c', 'ab*', true],
    ['abc', 'abd', false],
    ['a*c', 'b*', false],
    ['*x', '*y', false],
    ['s3:Put*', 's3:Get*', false],
    ['*', '', true],
    ['?', '', false],
  ])('patternsOverlap(%s, %s) is %s', (a, b, want) => {
    expect(patternsOverlap(a, b)).toBe(want)
    expect(patternsOverlap(b, a)).toBe(want)
  })

  it('a star never spans the colon between service and action', () => {
    expect(actionsOverlap('ec2:Describe*', '*:Delete*')).toBe(false)
    expect(actionsOverlap('*', '*:Delete*')).toBe(true)
    expect(actionsOverlap('ec2:*', 'kms:ScheduleKeyDeletion')).toBe(false)
  })
})
