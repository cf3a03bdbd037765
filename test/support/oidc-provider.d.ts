// The parts of oidc-provider (a real OpenID Provider, for tests) that test/support/oidc-issuer.ts uses.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'
  export interface Account {
    accountId: string
    claims(): Promise<Record<string, unknown>>
  }
  export interface ProviderConfiguration {
    clients?: Record<string, unknown>[]
    findAccount?: (ctx: unknown, sub: string) => Promise<Account | undefined>
    claims?: Record<string, string[]>
    conformIdTokenClaims?: boolean
    loadExistingGrant?: (ctx: any) => Promise<unknown>
    features?: Record<string, unknown>
    cookies?: { keys?: string[] }
    pkce?: { required?: () => boolean }
    [key: string]: unknown
  }
  export default class Provider {
    constructor(issuer: string, configuration?: ProviderConfiguration)
    callback(): (req: IncomingMessage, res: ServerResponse) => void
    on(event: string, listener: (...args: any[]) => void): this
    Grant: new (init: { accountId: string; clientId: string }) => {
      addOIDCScope(scope: string): void
      save(): Promise<string>
    }
  }
}
