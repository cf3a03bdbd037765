// Agent commands: request, exec, credential-process.
import type { ChildProcess } from 'node:child_process'
import type { Command } from 'commander'
import {
  credentialProcessOutput,
  type CredentialProcessOutput,
} from '../../../providers/aws/credential-process.js'
import { clientFor } from '../../client/client.js'
import { CliError, EXIT } from '../../client/exit.js'
import { bold, dim, printJson, statusColour } from '../output.js'
import { startWithGrant } from '../../client/run.js'
import {
  clampLine,
  endSession,
  obtain,
  progressFor,
  requestBody,
  type RequestAnswer,
  type RequestArgs,
  grantLines,
  type Grant,
  type Session,
} from '../../client/sessions.js'
import { call } from '../../client/client.js'
import { globals, parseActionFile, parseTtl } from './globals.js'
import { isolatedHome, type IsolatedHome } from '../isolated-home.js'

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const

function sessionOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--env <environment>', 'environment (e.g. staging)')
    .requiredOption('--class <class>', 'operation class (e.g. read)')
    .requiredOption('--provider <provider>', 'provider name')
    .requiredOption('--task <id>', 'task id (e.g. JIRA-123)')
    .option('--description <text>', 'what the task is')
    .option('--justification <text>', 'why this access is needed')
    .option('--ttl <duration>', 'credential lifetime, like 15m (clamped by policy)', parseTtl)
    .option('--on-behalf-of <human>', 'the person this agent works for (cannot approve)')
    .option(
      '--action-file <file>',
      'gateway providers: a JSON file {"method", "path", "body"} with the exact call to approve (used once)',
      parseActionFile,
    )
}

const argsOf = (o: Record<string, unknown>): RequestArgs =>
  ({ ...o, ...(o['actionFile'] !== undefined && { action: o['actionFile'] }) }) as unknown as RequestArgs

function printSession(s: Session) {
  process.stdout.write(`${bold(s.id)}  ${statusColour(s.status)}\n`)
  process.stdout.write(
    `  ${s.agent} -> ${s.environment} / ${s.operation_class} / ${s.provider}  task ${s.task.id}\n` +
      `  approvals ${s.approvals.length} of ${s.approvals_required}  ${dim(`expires ${s.expires_at}`)}\n`,
  )
  if (s.status === 'pending_approval')
    process.stdout.write(
      `  an approver runs: airlock approve ${s.id}\n  then claim it: airlock claim ${s.id}\n`,
    )
}

export function registerAgentCommands(program: Command) {
  sessionOptions(program.command('request'))
    .description('request a session; with --wait, wait for approvals and claim the grant')
    .option('--wait', 'wait for approvals and claim the grant')
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const g = globals(cmd)
      const c = await clientFor(g)
      if (o['wait']) {
        const r = await obtain(c, argsOf(o), { progress: progressFor(g.json) })
        if (g.json) return printJson(r)
        printSession(r.session)
        process.stdout.write(`${grantLines(r.grant).join('\n')}\n`)
        return
      }
      const r = await call<RequestAnswer>(c, 'POST', '/v1/sessions', requestBody(argsOf(o)))
      if (g.json) return printJson(r)
      const clamped = clampLine(r)
      if (clamped) process.stderr.write(`airlock: ${clamped}\n`)
      printSession(r.session)
      if (r.grant) process.stdout.write(`${grantLines(r.grant).join('\n')}\n`)
    })

  program
    .command('claim <id>')
    .description('claim the grant of an approved request made without --wait')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd)
      const r = await call<{ session: Session; grant: Grant }>(
        await clientFor(g),
        'POST',
        `/v1/sessions/${encodeURIComponent(id)}/grant`,
      )
      if (g.json) return printJson(r)
      printSession(r.session)
      process.stdout.write(`${grantLines(r.grant).join('\n')}\n`)
    })

  sessionOptions(program.command('exec').passThroughOptions())
    .description(
      "run COMMAND with a session's credentials in its environment only; the session ends when it exits",
    )
    .option(
      '--isolate-profile',
      'give the command a fresh, empty HOME and XDG_CONFIG_HOME, so it does not find your saved profile (and its key)',
    )
    .argument('<command...>', 'the command and its arguments (after --)')
    .action(async (command: string[], o: Record<string, unknown>, cmd: Command) => {
      const g = globals(cmd)
      const c = await clientFor(g)
      // Signal handlers go in first: a signal that lands before the child exists is remembered,
      // so the session is still ended and the child never runs.
      let child: ChildProcess | null = null
      let received: NodeJS.Signals | null = null
      const forward = (sig: NodeJS.Signals) => () => {
        received ??= sig
        if (child && child.exitCode === null) child.kill(sig)
      }
      const handlers = SIGNALS.map((sig) => [sig, forward(sig)] as const)
      for (const [sig, h] of handlers) process.on(sig, h)
      let code: number | null = null
      let signal: NodeJS.Signals | null = null
      let sessionId: string | null = null
      let home: IsolatedHome | null = null
      try {
        const { session, grant } = await obtain(c, argsOf(o), { progress: progressFor(false) })
        sessionId = session.id
        if (received) {
          signal = received
        } else {
          let base: NodeJS.ProcessEnv = process.env
          if (o['isolateProfile']) {
            home = await isolatedHome()
            // AIRLOCK_PROFILE names a profile of the home the child does not get.
            const { AIRLOCK_PROFILE: _profile, ...rest } = process.env
            base = { ...rest, ...home.env }
          }
          const started = startWithGrant(grant, command, {
            stdio: 'inherit',
            env: base,
            onSpawnError: (e) => process.stderr.write(`airlock: cannot run ${command[0]}: ${e.message}\n`),
          })
          child = started.child
          ;({ code, signal } = await started.exited)
        }
      } finally {
        for (const [sig, h] of handlers) process.off(sig, h)
        await home?.remove()
        if (sessionId && !(await endSession(c, sessionId))) {
          process.stderr.write(
            `airlock: could not end session ${sessionId}; revoke it: airlock revoke ${sessionId}\n`,
          )
        }
      }
      const { constants } = await import('node:os')
      process.exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 1) : 1)
    })

  sessionOptions(program.command('credential-process'))
    .description(
      'print AWS credential_process JSON (for credential_process = airlock credential-process ... in ~/.aws/config)',
    )
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const c = await clientFor(globals(cmd))
      const { session, grant } = await obtain(c, argsOf(o), { progress: 'quiet' })
      // Expiration is the session's end (never later), so SDKs come back instead of using revoked keys.
      let out: CredentialProcessOutput
      try {
        if (typeof grant.credentials['access_key_id'] !== 'string')
          throw new CliError(`provider ${String(o['provider'])} does not issue AWS credentials`, EXIT.usage)
        out = credentialProcessOutput(grant)
      } catch (e) {
        // Nobody can use this grant: end its session rather than leave it live.
        await endSession(c, session.id)
        throw e instanceof CliError ? e : new CliError((e as Error).message, EXIT.software)
      }
      process.stdout.write(`${JSON.stringify(out)}\n`)
    })
}
