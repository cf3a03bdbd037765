// The gateway provider (an API with only blanket tokens, Airlock as the boundary): docs/gateway.md.
import { defineProvider } from '../validate.js'
import { checkGateway } from './config.js'
import { GatewaySchema } from './schema.js'
import { createGatewayProvider } from './provider.js'

export type { GatewayConfig } from './config.js'
export { isGateway, type GatewayProvider } from './provider.js'

export const gatewayProvider = defineProvider({
  schema: GatewaySchema,
  check: checkGateway,
  create: createGatewayProvider,
})
