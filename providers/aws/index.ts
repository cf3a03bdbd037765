// The aws provider (STS AssumeRole per session, revocation by deny policy): see docs/providers.md.
import { defineProvider } from '../validate.js'
import { checkAwsConfig } from './config.js'
import { AwsSchema } from './schema.js'
import { createAwsProvider } from './provider.js'

export type { AwsProviderConfig } from './config.js'
export { credentialProcessOutput } from './credential-process.js'

export const awsProvider = defineProvider({
  schema: AwsSchema,
  check: checkAwsConfig,
  create: createAwsProvider,
})
