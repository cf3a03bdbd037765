import type { Command } from 'commander'
import { call } from '../../client/client.js'
import { CliError, EXIT } from '../../client/exit.js'
import { saveProfile } from '../../client/profile.js'
import { readSecretInput } from '../../client/client.js'

export function registerLogin(program: Command) {
  program
    .command('login')
    .description(
      'save a broker URL and API key (read from stdin) to ~/.config/airlock/config.yaml, mode 0600',
    )
    .requiredOption('--url <url>', 'broker URL')
    .option('--profile <name>', 'profile name', 'default')
    .action(async (o: { url: string; profile: string }) => {
      const token = await readSecretInput(undefined)
      const url = o.url.replace(/\/$/, '')
      // Check the key before saving it: a /healthz answer says nothing about the key, /v1/locks does.
      await call({ url, token }, 'GET', '/v1/sessions/ses_login_check0000000000').catch((e: unknown) => {
        if (e instanceof CliError && e.exitCode === EXIT.usage) return // 404: authenticated
        if (e instanceof CliError && /lacks the role/.test(e.message)) return
        throw e
      })
      const path = await saveProfile(o.profile, { url, token })
      process.stdout.write(`saved profile ${o.profile} to ${path}\n`)
    })
}
