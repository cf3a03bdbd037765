// The gateway provider (an API with only blanket tokens, Airlock as the boundary): docs/gateway.md.
import type { ProviderFns } from '../types.js'
import { validateGateway, type GatewayConfig } from './config.js'
import { createGatewayProvider } from './provider.js'

export type { GatewayConfig } from './config.js'
export { isGateway, type GatewayProvider } from './provider.js'

export const gatewayProvider: ProviderFns<GatewayConfig> = {
  validate: validateGateway,
  create: createGatewayProvider,
}
