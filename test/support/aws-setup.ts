// A fake AWS with two accounts (staging 111..., prod 222...), each with an environment role and an
// admin role that trust the broker's IAM user; the broker's key lives in a file: reference.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fakeAws, type FakeAws } from './fake-aws.js'

export const BROKER_ARN = 'arn:aws:iam::999999999999:user/airlock-broker'
export const BROKER_AKID = 'AKIAAIRLOCKBROKER001'
/** The broker's long-lived secret: must never appear in any response, log line or audit event. */
export const CANARY_AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/CANARYaws9f3c2e7d1b5a8'

export const ROLES = {
  staging: 'arn:aws:iam::111111111111:role/airlock-staging',
  stagingAdmin: 'arn:aws:iam::111111111111:role/airlock-admin',
  prod: 'arn:aws:iam::222222222222:role/airlock-prod',
  prodAdmin: 'arn:aws:iam::222222222222:role/airlock-admin',
  /** In the broker's own account: IAM calls need no admin role there. */
  sameAccount: 'arn:aws:iam::999999999999:role/airlock-dev',
}
export const PROD_EXTERNAL_ID = 'airlock-prod-7c1e'

export const ACTIONS = {
  read: ['ec2:Describe*', 's3:GetObject', 's3:ListBucket', 'rds:Describe*'],
  write: ['ec2:Describe*', 'ec2:CreateTags', 's3:GetObject', 's3:PutObject', 's3:ListBucket'],
  destructive: ['ec2:DeleteVolume', 'rds:DeleteDBInstance', 's3:DeleteObject'],
}

export interface AwsWorld {
  fake: FakeAws
  keyFile: string
  /** The providers-list entry for an aws provider on this fake (YAML). */
  providerYaml(o?: { name?: string; extra?: string; environments?: string }): string
  close(): Promise<void>
}

export async function awsWorld(opts: { now?: () => number } = {}): Promise<AwsWorld> {
  const fake = await fakeAws(opts)
  fake.addUser(BROKER_ARN, BROKER_AKID, CANARY_AWS_SECRET)
  fake.addRole(ROLES.staging, { trusted: [BROKER_ARN] })
  fake.addRole(ROLES.stagingAdmin, { trusted: [BROKER_ARN] })
  fake.addRole(ROLES.prod, { trusted: [BROKER_ARN], externalId: PROD_EXTERNAL_ID })
  fake.addRole(ROLES.prodAdmin, { trusted: [BROKER_ARN] })
  fake.addRole(ROLES.sameAccount, { trusted: [BROKER_ARN] })
  const dir = mkdtempSync(join(tmpdir(), 'airlock-aws-'))
  const keyFile = join(dir, 'broker.json')
  writeFileSync(keyFile, JSON.stringify({ access_key_id: BROKER_AKID, secret_access_key: CANARY_AWS_SECRET }))
  const classes = Object.entries(ACTIONS)
    .map(([c, a]) => `        ${c}: { actions: ${JSON.stringify(a)} }`)
    .join('\n')
  return {
    fake,
    keyFile,
    providerYaml: (o = {}) => `
  - name: ${o.name ?? 'aws-main'}
    type: aws
    region: eu-west-1
    credentials: file:${keyFile}
    sts_endpoint: ${fake.url}
    iam_endpoint: ${fake.url}
${o.extra ?? ''}
    environments:
${
  o.environments ??
  `      staging: { role_arn: "${ROLES.staging}", admin_role_arn: "${ROLES.stagingAdmin}" }
      prod: { role_arn: "${ROLES.prod}", admin_role_arn: "${ROLES.prodAdmin}", external_id: ${PROD_EXTERNAL_ID} }`
}
    operation_classes:
${classes}
`,
    async close() {
      await fake.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
