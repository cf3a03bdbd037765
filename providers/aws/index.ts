// The aws provider (STS AssumeRole per session, revocation by deny policy): see docs/providers.md.
import { defineProvider } from '../validate.js'
import { checkAwsConfig, roleKey } from './config.js'
import { AwsSchema } from './schema.js'
import { createAwsProvider } from './provider.js'

export type { AwsProviderConfig } from './config.js'
export { credentialProcessOutput } from './credential-process.js'

export const awsProvider = defineProvider({
  schema: AwsSchema,
  check: checkAwsConfig,
  create: createAwsProvider,
  // Each provider rewrites the deny policy from its own list: a second one on the role would erase it.
  exclusive: (c) =>
    Object.entries(c.environments).map(([env, e]) => ({
      path: `environments.${env}.role_arn`,
      key: `aws:${roleKey(e.roleArn)}:${c.denyPolicyName}`,
      what: `the deny policy ${c.denyPolicyName} of role ${e.roleArn}`,
    })),
})
