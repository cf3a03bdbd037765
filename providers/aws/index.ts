// The aws provider (STS AssumeRole per session, revocation by deny policy): see README.md, "aws".
import type { ProviderFns } from '../types.js'
import { validateAwsConfig, type AwsProviderConfig } from './config.js'
import { createAwsProvider } from './provider.js'

export type { AwsProviderConfig } from './config.js'
export { credentialProcessOutput } from './credential-process.js'

export const awsProvider: ProviderFns<AwsProviderConfig> = {
  validate: validateAwsConfig,
  create: (config, ctx) => createAwsProvider(config, ctx),
}
