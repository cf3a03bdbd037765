// Operator and approver commands: sessions, revoke, lock/locks/unlock, console end-sessions,
// approve/deny, audit.
import type { Static } from '@sinclair/typebox'
import type { Command } from 'commander'
import { createInterface } from 'node:readline/promises'
import { call, clientFor } from '../../client/client.js'
import { CliError, EXIT } from '../../client/exit.js'
import { dim, printJson, printTable, statusColour } from '../output.js'
import { printSessionDetail, sessionRow } from '../session-view.js'
import type { Lock as LockSchema } from '../../schemas/lock.js'
import type { Session } from '../../client/sessions.js'
import { globals, parseTtl } from './globals.js'

type Lock = Static<typeof LockSchema>

const query = (o: Record<string, string | number | undefined>) => {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(o)) if (v !== undefined) q.set(k, String(v))
  const s = q.toString()
  return s ? `?${s}` : ''
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY)
    throw new CliError('refusing to revoke in bulk without --yes (stdin is not a terminal)', EXIT.usage)
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  const answer = await rl.question(`${question} [y/N] `)
  rl.close()
  return /^y(es)?$/i.test(answer.trim())
}

export function registerOperatorCommands(program: Command) {
  const sessions = program
    .command('sessions')
    .description('list sessions (approvers and operators)')
    .option('--status <status>', 'pending_approval, approved, active, denied, expired or revoked')
    .option('--agent <agent>')
    .option('--env <environment>')
    .option('--provider <provider>')
    .option('--limit <n>', 'at most this many', (v) => Number(v), 50)
    .action(
      async (
        o: { status?: string; agent?: string; env?: string; provider?: string; limit: number },
        cmd: Command,
      ) => {
        const g = globals(cmd)
        const q = query({
          status: o.status,
          agent: o.agent,
          environment: o.env,
          provider: o.provider,
          limit: o.limit,
        })
        const r = await call<{ sessions: Session[]; next_cursor: string | null }>(
          await clientFor(g),
          'GET',
          `/v1/sessions${q}`,
        )
        if (g.json) return printJson(r)
        printTable(
          ['ID', 'STATUS', 'AGENT', 'ENV', 'CLASS', 'PROVIDER', 'TASK', 'APPROVALS', 'EXPIRES'],
          r.sessions.map(sessionRow),
        )
        if (r.next_cursor) process.stdout.write(dim('(more: raise --limit)\n'))
      },
    )
  sessions
    .command('show <id>')
    .description('one session in full')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd)
      const s = await call<Session>(await clientFor(g), 'GET', `/v1/sessions/${encodeURIComponent(id)}`)
      if (g.json) return printJson(s)
      printSessionDetail(s)
    })

  program
    .command('revoke [id]')
    .description('revoke one session, or every live session matching --agent/--env/--provider/--class/--task')
    .option('--agent <agent>')
    .option('--env <environment>')
    .option('--provider <provider>')
    .option('--class <class>')
    .option('--task <id>')
    .option('--yes', 'do not ask for confirmation of a bulk revoke')
    .action(async (id: string | undefined, o: Record<string, string | boolean | undefined>, cmd: Command) => {
      const g = globals(cmd)
      const c = await clientFor(g)
      const filter = {
        agent: o['agent'],
        environment: o['env'],
        provider: o['provider'],
        operation_class: o['class'],
        task_id: o['task'],
      }
      const named = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined))
      if (id && Object.keys(named).length > 0)
        throw new CliError('give a session id or a filter, not both', EXIT.usage)
      if (id) {
        const r = await call<{ session: Session }>(c, 'DELETE', `/v1/sessions/${encodeURIComponent(id)}`)
        if (g.json) return printJson(r)
        return void process.stdout.write(`${r.session.id} ${statusColour(r.session.status)}\n`)
      }
      if (Object.keys(named).length === 0)
        throw new CliError('give a session id or at least one filter', EXIT.usage)
      const what = Object.entries(named)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ')
      if (!o['yes'] && !(await confirm(`revoke every live session with ${what}?`))) {
        throw new CliError('not revoked', EXIT.usage)
      }
      const r = await call<{ revoked: number; session_ids: string[] }>(
        c,
        'POST',
        '/v1/sessions/revoke',
        named,
      )
      if (g.json) return printJson(r)
      process.stdout.write(
        `revoked ${r.revoked} session(s)${r.revoked ? `: ${r.session_ids.join(' ')}` : ''}\n`,
      )
    })

  program
    .command('lock')
    .description('quarantine an agent, environment, provider or task (revokes what it matches)')
    .option('--agent <agent>')
    .option('--env <environment>')
    .option('--provider <provider>')
    .option('--task <id>')
    .option('--reason <text>', 'why (shown to whoever is refused)', 'locked by an operator')
    .option('--for <duration>', 'lift automatically after this long (like 2h)', parseTtl)
    .action(async (o: Record<string, string | number | undefined>, cmd: Command) => {
      const g = globals(cmd)
      const body = {
        ...(o['agent'] !== undefined && { agent: o['agent'] }),
        ...(o['env'] !== undefined && { environment: o['env'] }),
        ...(o['provider'] !== undefined && { provider: o['provider'] }),
        ...(o['task'] !== undefined && { task_id: o['task'] }),
        reason: o['reason'],
        ...(o['for'] !== undefined && {
          expires_at: new Date(Date.now() + Number(o['for']) * 1000).toISOString(),
        }),
      }
      const r = await call<{ lock: Lock; revoked_sessions: string[] }>(
        await clientFor(g),
        'POST',
        '/v1/locks',
        body,
      )
      if (g.json) return printJson(r)
      process.stdout.write(`${r.lock.id} locked; revoked ${r.revoked_sessions.length} session(s)\n`)
    })
  program
    .command('locks')
    .description('locks in force')
    .action(async (_o: unknown, cmd: Command) => {
      const g = globals(cmd)
      const r = await call<{ locks: Lock[] }>(await clientFor(g), 'GET', '/v1/locks')
      if (g.json) return printJson(r)
      printTable(
        ['ID', 'AGENT', 'ENV', 'PROVIDER', 'TASK', 'REASON', 'BY', 'UNTIL'],
        r.locks.map((l) => [
          l.id,
          l.agent ?? '*',
          l.environment ?? '*',
          l.provider ?? '*',
          l.task_id ?? '*',
          l.reason,
          l.created_by,
          l.expires_at ?? '-',
        ]),
      )
    })
  program
    .command('unlock <id>')
    .description('lift a lock')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd)
      const r = await call<{ lock: Lock }>(
        await clientFor(g),
        'DELETE',
        `/v1/locks/${encodeURIComponent(id)}`,
      )
      if (g.json) return printJson(r)
      process.stdout.write(`${r.lock.id} lifted\n`)
    })

  program
    .command('console')
    .description('the web console (operators)')
    .command('end-sessions <human>')
    .description('sign a person out of the web console in every browser (a lost laptop, someone leaving)')
    .action(async (human: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd)
      const r = await call<{ human: string; ended: number }>(
        await clientFor(g),
        'DELETE',
        `/v1/console-sessions/${encodeURIComponent(human)}`,
      )
      if (g.json) return printJson(r)
      process.stdout.write(`${r.human}: ended ${r.ended} console session(s)\n`)
    })

  for (const decision of ['approve', 'deny'] as const) {
    program
      .command(`${decision} <id>`)
      .description(
        decision === 'approve' ? 'approve a pending request' : 'deny a pending request (one deny ends it)',
      )
      .option('--comment <text>')
      .action(async (id: string, o: { comment?: string }, cmd: Command) => {
        const g = globals(cmd)
        const r = await call<{ session: Session }>(
          await clientFor(g),
          'POST',
          `/v1/sessions/${encodeURIComponent(id)}/approvals`,
          {
            decision,
            ...(o.comment && { comment: o.comment }),
          },
        )
        if (g.json) return printJson(r)
        const s = r.session
        process.stdout.write(
          `${s.id} ${statusColour(s.status)} (${s.approvals.length} of ${s.approvals_required} approvals)\n`,
        )
      })
  }
}

export function registerAuditCommand(
  program: Command,
  verifyFromConfig: (config: string, checkpoints?: string) => Promise<number>,
) {
  const audit = program
    .command('audit')
    .description('audit events, newest first (operators)')
    .option('--session <id>')
    .option('--agent <agent>')
    .option('--since <duration>', 'only events of the last (e.g. 1h)', parseTtl)
    .option('--limit <n>', 'at most this many', (v) => Number(v), 100)
    .action(async (o: { session?: string; agent?: string; since?: number; limit: number }, cmd: Command) => {
      const g = globals(cmd)
      const since = o.since === undefined ? undefined : new Date(Date.now() - o.since * 1000).toISOString()
      const q = query({ session_id: o.session, agent: o.agent, since, limit: o.limit })
      const r = await call<{
        events: {
          at: string
          type: string
          actor: string
          session_id: string | null
          seq: number
          chain: string
        }[]
      }>(await clientFor(g), 'GET', `/v1/audit${q}`)
      if (g.json) return printJson(r)
      printTable(
        ['AT', 'TYPE', 'ACTOR', 'SESSION', 'CHAIN#SEQ'],
        r.events.map((e) => [e.at, e.type, e.actor, e.session_id ?? '', dim(`${e.chain}#${e.seq}`)]),
      )
    })
  audit
    .command('verify')
    .description('verify every audit hash chain (through the API, or from the store with --config)')
    .option('-c, --config <file>', 'read the store directly with this broker config')
    .option('--checkpoints <file>', 'with --config: a captured broker stdout with checkpoint lines')
    .action(async (o: { config?: string; checkpoints?: string }, cmd: Command) => {
      if (o.config) {
        process.exitCode = await verifyFromConfig(o.config, o.checkpoints)
        return
      }
      const g = globals(cmd)
      const c = await clientFor(g)
      // The API answers once, at the end: say what is going on (stdout stays the result).
      if (!g.json)
        process.stderr.write('verifying the audit log through the API (use --config for progress)...\n')
      const r = await call<{ ok: boolean; events: number; problems: string[] }>(c, 'GET', '/v1/audit/verify')
      if (g.json) printJson(r)
      else {
        for (const p of r.problems) process.stdout.write(`PROBLEM ${p}\n`)
        process.stdout.write(
          r.ok ? `ok: ${r.events} events verified\n` : `FAILED: ${r.problems.length} problem(s)\n`,
        )
      }
      if (!r.ok) process.exitCode = EXIT.problems
    })
}
