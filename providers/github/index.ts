// GitHub: an App installation token per session, limited to the environment's repositories and
// the class's permissions, revoked at GitHub when the session ends. See docs/github.md.
import type { ProviderFns } from '../types.js'
import { validateGithubConfig, type GithubProviderConfig } from './config.js'
import { createGithubProvider } from './provider.js'

export type { GithubProviderConfig } from './config.js'

export const githubProvider: ProviderFns<GithubProviderConfig> = {
  validate: validateGithubConfig,
  create: createGithubProvider,
}
