// `airlock vault put|rm|ls` and `airlock keys rotate`: admin commands over the API.
import type { Command } from 'commander'
import { call, clientFor, readSecretInput } from '../../client/client.js'
import { globals } from './globals.js'

interface Meta {
  path: string
  version: number
  updated_at: string
  updated_by: string
}

const enc = (path: string) => path.split('/').map(encodeURIComponent).join('/')

export function registerVaultCommands(program: Command) {
  const vault = program.command('vault').description('write-only secret storage (admins)')
  vault
    .command('put <path>')
    .description('store a secret read from stdin (or --from-file); never pass it as an argument')
    .option('--from-file <file>', 'read the value from this file')
    .option('--url <url>', 'broker URL (or AIRLOCK_URL)')
    .action(async (path: string, o: { fromFile?: string }, cmd: Command) => {
      // globals(): the command's own --url merged with the global --url and --profile.
      const c = await clientFor(globals(cmd))
      const value = await readSecretInput(o.fromFile)
      await call(c, 'PUT', `/v1/vault/${enc(path)}`, { value })
      process.stdout.write(`stored ${path}\n`)
    })
  vault
    .command('rm <path>')
    .description('delete a secret')
    .option('--url <url>', 'broker URL (or AIRLOCK_URL)')
    .action(async (path: string, _o: unknown, cmd: Command) => {
      await call(await clientFor(globals(cmd)), 'DELETE', `/v1/vault/${enc(path)}`)
      process.stdout.write(`deleted ${path}\n`)
    })
  vault
    .command('ls')
    .description('list secrets: paths and metadata, never values')
    .option('--json', 'machine-readable output')
    .option('--url <url>', 'broker URL (or AIRLOCK_URL)')
    .action(async (_o: unknown, cmd: Command) => {
      const g = globals(cmd)
      const { secrets } = await call<{ secrets: Meta[] }>(await clientFor(g), 'GET', '/v1/vault')
      if (g.json) return void process.stdout.write(`${JSON.stringify(secrets)}\n`)
      const w = Math.max(4, ...secrets.map((s) => s.path.length))
      process.stdout.write(`${'PATH'.padEnd(w)}  VERSION  UPDATED                   BY\n`)
      for (const s of secrets) {
        process.stdout.write(
          `${s.path.padEnd(w)}  ${String(s.version).padEnd(7)}  ${s.updated_at.padEnd(24)}  ${s.updated_by}\n`,
        )
      }
    })

  program
    .command('keys')
    .description('token signing keys')
    .command('rotate')
    .description('make a new signing key active now; tokens already issued stay valid until they expire')
    .option(
      '--drop-previous',
      'drop every earlier key now (one may have leaked): tokens they signed stop working',
    )
    .option('--url <url>', 'broker URL (or AIRLOCK_URL)')
    .action(async (o: { dropPrevious?: boolean }, cmd: Command) => {
      const r = await call<{ kid: string; previous: string | null; dropped: string[] }>(
        await clientFor(globals(cmd)),
        'POST',
        '/v1/keys/rotate',
        o.dropPrevious ? { drop_previous: true } : undefined,
      )
      const retired = r.previous && !r.dropped.includes(r.previous) ? ` (retired ${r.previous})` : ''
      process.stdout.write(`active key ${r.kid}${retired}\n`)
      if (r.dropped.length > 0)
        process.stdout.write(
          `dropped ${r.dropped.join(', ')}: tokens they signed no longer verify; agents request new sessions\n`,
        )
    })
}
