// A broker with gateway providers, listening on a local port, as the gateway's HTTP tests use it.
import type { TestBroker } from '../helper.js'

/**
 * One gateway provider as an item of the config's `providers`: its upstream, an environment
 * (`staging` unless named) whose credential is `credential` (a secret reference), its classes
 * (lines under `operation_classes:`) and any other settings (lines under the provider).
 */
export function gatewayProvider(p: {
  name: string
  upstream: string
  credential: string
  classes: string[]
  settings?: string[]
  environment?: string
}): string {
  return [
    '',
    `  - name: ${p.name}`,
    '    type: gateway',
    `    upstream: "${p.upstream}"`,
    ...(p.settings ?? []).map((l) => `    ${l}`),
    '    environments:',
    `      ${p.environment ?? 'staging'}: { credential: ${p.credential} }`,
    '    operation_classes:',
    ...p.classes.map((l) => `      ${l}`),
    '',
  ].join('\n')
}

/** `env:NAME`, with NAME set in this process's environment, where providers resolve it. */
export function envCredential(name: string, value: string): string {
  process.env[name] = value
  return `env:${name}`
}

/** Starts the broker listening on a free local port; returns the port. */
export async function listen(tb: TestBroker): Promise<number> {
  await tb.app.listen({ port: 0, host: '127.0.0.1' })
  return (tb.app.server.address() as { port: number }).port
}
