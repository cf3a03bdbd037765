// Who am I and what may I ask for: `airlock whoami` and `airlock entitlements`.
import type { Static } from '@sinclair/typebox'
import type { Command } from 'commander'
import { call, clientFor } from '../../client/client.js'
import { printJson, printTable } from '../output.js'
import type { Entitlements, WhoAmI } from '../../schemas/identity.js'
import { globals } from './globals.js'

const ttl = (s: number) => (s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`)

export function registerIdentityCommands(program: Command) {
  program
    .command('whoami')
    .description('the principal and roles of the current key, and the broker it talks to')
    .action(async (_o: unknown, cmd: Command) => {
      const g = globals(cmd)
      const c = await clientFor(g)
      const r = await call<Static<typeof WhoAmI>>(c, 'GET', '/v1/whoami')
      if (g.json) return printJson(r)
      process.stdout.write(
        `principal  ${r.id} (${r.kind.replace('_', ' ')})\n` +
          `roles      ${r.roles.join(', ')}\n` +
          (r.owners?.length ? `owners     ${r.owners.join(', ')}\n` : '') +
          `broker     ${c.url} (airlock ${r.broker.version})\n`,
      )
    })

  program
    .command('entitlements')
    .description('every environment, class and provider you may request, with approvals and max TTL')
    .action(async (_o: unknown, cmd: Command) => {
      const g = globals(cmd)
      const r = await call<Static<typeof Entitlements>>(await clientFor(g), 'GET', '/v1/entitlements')
      if (g.json) return printJson(r)
      if (r.principal.kind !== 'agent') {
        process.stdout.write(
          `${r.principal.id} is a ${r.principal.kind.replace('_', ' ')} with roles: ${r.principal.roles.join(', ') || 'none'}` +
            ` (only agents request sessions)\n`,
        )
        return
      }
      if (r.entitlements.length === 0) {
        process.stdout.write(`${r.principal.id} may not request anything: no policy rule allows it\n`)
        return
      }
      printTable(
        ['ENV', 'CLASS', 'PROVIDER', 'APPROVALS', 'MAX TTL', 'RULE'],
        r.entitlements.map((e) => [
          e.environment,
          e.operation_class,
          e.provider,
          String(e.approvals_required),
          ttl(e.max_ttl_seconds),
          e.rules.join('; '),
        ]),
      )
    })
}
