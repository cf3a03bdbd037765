#!/usr/bin/env node
// The `airlock` command (docs/cli.md): the server (serve, dev, config check) and the
// client commands that talk to a broker over its API.
import { Command, CommanderError } from 'commander'
import { ConfigError } from '../errors.js'
import { auditVerify } from './audit-verify.js'
import { registerAgentCommands } from './commands/agent.js'
import { registerGitCredential } from './commands/git-credential.js'
import { addGlobalOptions, packageVersion, spreadGlobalOptions } from './commands/globals.js'
import { registerIdentityCommands } from './commands/identity.js'
import { registerLogin } from './commands/login.js'
import { registerMcpCommand } from './commands/mcp.js'
import { registerAuditCommand, registerOperatorCommands } from './commands/operator.js'
import { registerVaultCommands } from './commands/vault.js'
import { configCheck } from './config-check.js'
import { dev } from './dev.js'
import { CliError, EXIT } from '../client/exit.js'
import { configPath, serve } from './serve.js'

const program = addGlobalOptions(new Command().name('airlock'))
  .description('Just-in-time credential broker for AI agents')
  .version(packageVersion(), '-V, --version', 'print the version')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  .enablePositionalOptions()

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

program
  .command('config')
  .description('configuration tools')
  .command('check')
  .description('validate a config file and print every problem with its path')
  .option('-c, --config <file>', 'config file (or AIRLOCK_CONFIG)')
  .action(async (o: { config?: string }) => {
    process.exitCode = await configCheck(configPath(o.config))
  })

registerLogin(program)
registerAgentCommands(program)
registerGitCredential(program)
registerOperatorCommands(program)
registerVaultCommands(program)
registerMcpCommand(program)
registerAuditCommand(program, (config, checkpoints) => auditVerify(configPath(config), checkpoints))
registerIdentityCommands(program)
// Last, so that every command registered above takes --json, --url and --profile after its name.
spreadGlobalOptions(program)

// A reader that stops early (`airlock request ... | head -1`) closes the pipe: the rest of the
// output has nowhere to go, which is no failure of the command.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e
})

try {
  await program.parseAsync(process.argv)
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : EXIT.usage)
  if (e instanceof ConfigError) {
    for (const p of e.problems) process.stderr.write(`airlock: ${p.path ? `${p.path}: ` : ''}${p.message}\n`)
    process.exit(EXIT.config)
  }
  process.stderr.write(`airlock: ${(e as Error).message}\n`)
  process.exit(e instanceof CliError ? e.exitCode : EXIT.software)
}
