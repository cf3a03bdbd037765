// `airlock git-credential`: git's credential helper protocol (git-credential(1)) over a GitHub
// session's token, so `git` authenticates over HTTPS without the token ever being written to disk.
// Inside `airlock exec` it answers with the session's token from the environment exec set;
// with --env/--class/--provider/--task it requests a session of its own, as credential-process does.
import type { Command } from 'commander'
import { clientFor } from '../../client/client.js'
import { CliError, EXIT } from '../../client/exit.js'
import { endSession, obtain, type RequestArgs } from '../../client/sessions.js'
import { globals, parseTtl } from './globals.js'

/** git's input: `key=value` lines up to a blank line or the end. */
export function parseCredentialInput(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const l = line.replace(/\r$/, '')
    if (l === '') break
    const at = l.indexOf('=')
    if (at > 0) out[l.slice(0, at)] = l.slice(at + 1)
  }
  return out
}

/**
 * The answer for git, or null when the request is not for the token's server (then git asks its
 * other helpers, or the user). The username is what GitHub expects with an installation token.
 */
export function credentialAnswer(
  input: Record<string, string>,
  serverUrl: string,
  token: string,
): string | null {
  const server = new URL(serverUrl)
  const protocol = server.protocol.replace(/:$/, '')
  if (input['protocol'] !== protocol || input['host']?.toLowerCase() !== server.host.toLowerCase())
    return null
  if (/[\n\0]/.test(token)) return null
  return `username=x-access-token\npassword=${token}\n`
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export function registerGitCredential(program: Command) {
  program
    .command('git-credential')
    .description(
      "git credential helper for a GitHub session: git -c credential.helper='!airlock git-credential' (under airlock exec)",
    )
    .argument('[operation]', 'get, store or erase (git passes it)', 'get')
    .option('--env <environment>', 'request a session of its own: environment')
    .option('--class <class>', 'operation class')
    .option('--provider <provider>', 'a github provider')
    .option('--task <id>', 'task id')
    .option('--justification <text>', 'why this access is needed')
    .option('--ttl <duration>', 'credential lifetime, like 15m (clamped by policy)', parseTtl)
    .action(async (operation: string, o: Record<string, unknown>, cmd: Command) => {
      const input = parseCredentialInput(await readStdin())
      // Nothing is ever stored or erased: the token lives only in memory and the session ends by itself.
      if (operation !== 'get') return
      const own = ['env', 'class', 'provider', 'task'].filter((k) => o[k] !== undefined)
      let token: string
      let serverUrl: string
      if (own.length > 0) {
        if (own.length < 4)
          throw new CliError(
            'to request a session, give all of --env, --class, --provider and --task',
            EXIT.usage,
          )
        const c = await clientFor(globals(cmd))
        const { session, grant } = await obtain(c, o as unknown as RequestArgs, { progress: 'lines' })
        const t = grant.credentials['token']
        const s = grant.credentials['server_url']
        if (typeof t !== 'string' || typeof s !== 'string') {
          await endSession(c, session.id) // nobody can use this grant
          throw new CliError(`provider ${String(o['provider'])} does not issue GitHub tokens`, EXIT.usage)
        }
        ;[token, serverUrl] = [t, s]
      } else {
        const t = process.env['GITHUB_TOKEN']
        if (!t || !process.env['AIRLOCK_SESSION_TOKEN'])
          throw new CliError(
            'no GitHub session in this environment: run git under airlock exec with a github provider, or give --env, --class, --provider and --task',
            EXIT.usage,
          )
        ;[token, serverUrl] = [t, process.env['GITHUB_SERVER_URL'] ?? 'https://github.com']
      }
      const answer = credentialAnswer(input, serverUrl, token)
      if (answer) process.stdout.write(answer)
    })
}
