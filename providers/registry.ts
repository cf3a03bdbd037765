// Every provider type and its functions. Typed as a Record over ProviderType, so adding a type to
// the union without implementing its schema, check and create (and the Provider methods) does not compile.
import { awsProvider } from './aws/index.js'
import { githubProvider } from './github/index.js'
import { gatewayProvider } from './gateway/index.js'
import { jwtProvider } from './jwt/index.js'
import { postgresProvider } from './postgres/index.js'
import type { ProviderFns, ProviderType } from './types.js'

export const providerRegistry: Record<ProviderType, ProviderFns> = {
  jwt: jwtProvider,
  postgres: postgresProvider,
  aws: awsProvider,
  github: githubProvider,
  gateway: gatewayProvider,
}

export const isProviderType = (t: string): t is ProviderType => Object.hasOwn(providerRegistry, t)
