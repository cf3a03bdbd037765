// GitHub: an App installation token per session, limited to the environment's repositories and
// the class's permissions, revoked at GitHub when the session ends. See docs/github.md.
import { defineProvider } from '../validate.js'
import { checkGithubConfig } from './config.js'
import { GithubSchema } from './schema.js'
import { createGithubProvider } from './provider.js'

export type { GithubProviderConfig } from './config.js'

export const githubProvider = defineProvider({
  schema: GithubSchema,
  check: checkGithubConfig,
  create: createGithubProvider,
})
