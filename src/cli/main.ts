#!/usr/bin/env node
// The `airlock` command (API.md, "Command line").
import { Command, CommanderError } from 'commander'
import { ConfigError } from '../errors.js'
import { auditVerify } from './audit-verify.js'
import { configCheck } from './config-check.js'
import { dev } from './dev.js'
import { CliError, EXIT } from './exit.js'
import { configPath, serve } from './serve.js'
import { registerVaultCommands } from './vault.js'

const program = new Command()
  .name('airlock')
  .description('Just-in-time credential broker for AI agents')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })

let code: number = EXIT.ok

program
  .command('serve')
  .description('run the production server (needs Redis)')
  .option('-c, --config <file>', 'config file (or AIRLOCK_CONFIG)')
  .action(async (o: { config?: string }) => serve(o.config))

program
  .command('dev')
  .description('run a throwaway broker: in-memory store, demo config and keys')
  .option('-p, --port <port>', 'port', (v) => Number(v), Number(process.env['PORT'] ?? 8080))
  .option(
    '-c, --config <file>',
    'use this config instead of the demo one (still in-memory unless it names Redis)',
  )
  .action(async (o: { port: number; config?: string }) => dev(o))

const config = program.command('config').description('configuration tools')
config
  .command('check')
  .description('validate a config file and print every problem with its path')
  .option('-c, --config <file>', 'config file (or AIRLOCK_CONFIG)')
  .action(async (o: { config?: string }) => {
    code = await configCheck(configPath(o.config))
  })

registerVaultCommands(program)

const audit = program.command('audit').description('audit log tools')
audit
  .command('verify')
  .description('verify every audit hash chain in the store')
  .option('-c, --config <file>', 'config file (or AIRLOCK_CONFIG)')
  .option('--checkpoints <file>', 'a captured broker stdout with checkpoint lines')
  .action(async (o: { config?: string; checkpoints?: string }) => {
    code = await auditVerify(configPath(o.config), o.checkpoints)
  })

try {
  await program.parseAsync(process.argv)
  if (code !== EXIT.ok) process.exit(code)
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : EXIT.usage)
  if (e instanceof ConfigError) {
    for (const p of e.problems) process.stderr.write(`airlock: ${p.path ? `${p.path}: ` : ''}${p.message}\n`)
    process.exit(EXIT.config)
  }
  process.stderr.write(`airlock: ${(e as Error).message}\n`)
  process.exit(e instanceof CliError ? e.exitCode : EXIT.software)
}
