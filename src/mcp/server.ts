// `airlock mcp`: a Model Context Protocol server over stdio acting as one agent (its API key). The
// agent gets sessions, command results and gateway answers; the session token and the provider
// credentials stay in this process and in the commands it starts.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { call, type ClientConfig } from '../client/client.js'
import { awaitDecision, requestBody, Withdrawn, type Session } from '../client/sessions.js'
import { parseDuration } from '../validation/duration.js'
import { heldSessions, progressMessage, summary, type HeldSessions } from './access.js'
import { gatewayRequest } from './gateway.js'
import { killRunning, OUTPUT_LIMIT, runCaptured } from './run.js'
import * as S from './schemas.js'

/** Seconds per long-poll while a client follows progress: each approval shows within this. */
const PROGRESS_POLL_SECONDS = 3
const DEFAULT_TIMEOUT_SECONDS = 120
/** How long closing may take to end the sessions before the process exits anyway. */
const CLOSE_DEADLINE_MS = 3_000

const INSTRUCTIONS = `Airlock gives this agent short-lived, scoped access to infrastructure. Ask with request_access (an environment, an operation class, a provider and a task); some requests wait for human approval. Then run commands with run_with_access, or send API calls with gateway_request: the credentials go to the command or the gateway, never to you. Call release_access when the task is done.`

const result = (text: string, structured: object): CallToolResult => ({
  content: [{ type: 'text', text }],
  structuredContent: structured as Record<string, unknown>,
})

const ttlSeconds = (ttl: string | number | undefined): number | undefined => {
  if (ttl === undefined || typeof ttl === 'number') return ttl
  let ms: number
  try {
    ms = parseDuration(ttl)
  } catch {
    throw new Error(`ttl "${ttl}": expected a duration like "15m" or a number of seconds`)
  }
  if (ms < 1000) throw new Error(`ttl "${ttl}": at least one second, such as "1s" or "15m"`)
  return Math.floor(ms / 1000)
}

type Extra = {
  signal: AbortSignal
  _meta?: { progressToken?: string | number }
  sendNotification: (n: {
    method: 'notifications/progress'
    params: { progressToken: string | number; progress: number; total?: number; message?: string }
  }) => Promise<void>
}

/**
 * Refuses to act unless the key is an agent's: a person's key would lend the model that person's
 * powers (reading and revoking every session, for an operator). Checked until it once succeeds.
 */
function agentOnly(c: ClientConfig): () => Promise<void> {
  let ok = false
  return async () => {
    if (ok) return
    const me = await call<{ id: string; kind: string }>(c, 'GET', '/v1/whoami')
    if (me.kind !== 'agent') {
      throw new Error(
        `airlock mcp acts as an agent, but its key is ${me.id}'s (a ${me.kind.replace('_', ' ')}): start it with an agent's API key`,
      )
    }
    ok = true
  }
}

export function buildServer(c: ClientConfig, held: HeldSessions, stopping: AbortSignal): McpServer {
  const server = new McpServer({ name: 'airlock', version: '0.1.0' }, { instructions: INSTRUCTIONS })
  const asAgent = agentOnly(c)
  const signalOf = (extra: Extra) => AbortSignal.any([extra.signal, stopping])

  /** Waits for approvals, reporting each as progress when the client asked for it. */
  const wait = async (s: Session, seconds: number, extra: Extra, withdraw: boolean) => {
    const token = extra._meta?.progressToken
    let reported = -1
    const onUpdate = (x: Session) => {
      if (token === undefined || x.approvals.length <= reported) return
      reported = x.approvals.length
      extra
        .sendNotification({
          method: 'notifications/progress',
          params: {
            progressToken: token,
            progress: reported,
            total: x.approvals_required,
            message: progressMessage(x),
          },
        })
        .catch(() => {}) // the client went away: closing handles the rest
    }
    const done = await awaitDecision(c, s, {
      signal: signalOf(extra),
      withdraw,
      until: Date.now() + seconds * 1000,
      pollSeconds: token === undefined ? 60 : PROGRESS_POLL_SECONDS,
      onUpdate,
    }).catch((e: unknown) => {
      if (e instanceof Withdrawn) held.ended(e.sessionId)
      throw e
    })
    held.seen(done)
    return done
  }

  const statusResult = (s: Session) => {
    const out = summary(s)
    return result(`${s.id}: ${s.status}. ${out.message}`, out)
  }

  server.registerTool(
    'request_access',
    {
      title: 'Request access',
      description:
        'Ask Airlock for access to one environment, operation class and provider for a task. Returns a session_id and its status; with wait_seconds, waits for human approvals (cancelling the call withdraws the request). The credentials never come back to you: use run_with_access or gateway_request with the session_id.',
      inputSchema: S.requestAccessInput,
      outputSchema: S.accessOutput,
    },
    async (a, extra) => {
      await asAgent()
      const ttl = ttlSeconds(a.ttl)
      const body = {
        ...requestBody({
          env: a.environment,
          class: a.operation_class,
          provider: a.provider,
          task: a.task_id,
          ...(a.task_description !== undefined && { description: a.task_description }),
          ...(a.justification !== undefined && { justification: a.justification }),
          ...(ttl !== undefined && { ttl }),
        }),
        ...(a.action !== undefined && { action: a.action }),
      }
      // Not abortable: a request the broker took must be known here, to be withdrawn or ended.
      const r = await held.open(body)
      if (signalOf(extra).aborted) {
        await held.release(r.session.id)
        throw new Withdrawn(r.session.id, true)
      }
      let s = r.session
      if (s.status === 'pending_approval' && (a.wait_seconds ?? 0) > 0) {
        s = await wait(s, a.wait_seconds ?? 0, extra, true)
      }
      return statusResult(s)
    },
  )

  server.registerTool(
    'access_status',
    {
      title: 'Access status',
      description:
        'The status of a session (pending_approval, approved, active, denied, expired, revoked) and its approvals; with wait_seconds, waits while it is pending.',
      inputSchema: S.accessStatusInput,
      outputSchema: S.accessOutput,
      annotations: { readOnlyHint: true },
    },
    async (a, extra) => {
      await asAgent()
      let s = await call<Session>(c, 'GET', `/v1/sessions/${encodeURIComponent(a.session_id)}`)
      held.seen(s)
      if (s.status === 'pending_approval' && (a.wait_seconds ?? 0) > 0) {
        s = await wait(s, a.wait_seconds ?? 0, extra, false)
      }
      return statusResult(s)
    },
  )

  server.registerTool(
    'run_with_access',
    {
      title: 'Run a command with access',
      description: `Run a command (argv, no shell) with the session's credentials in its environment only (AWS_*, PG*, DATABASE_URL, AIRLOCK_SESSION_TOKEN), claiming the grant if it is approved. Returns the exit code and the first ${OUTPUT_LIMIT} characters of stdout and stderr, with every credential replaced by [redacted]. At timeout_seconds the command and everything it started are killed.`,
      inputSchema: S.runWithAccessInput,
      outputSchema: S.runOutput,
    },
    async (a, extra) => {
      await asAgent()
      const use = await held.usable(a.session_id)
      const r = await runCaptured(
        use.grant,
        use.redactor,
        {
          command: a.command,
          timeoutSeconds: a.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS,
          ...(a.cwd !== undefined && { cwd: a.cwd }),
          ...(a.stdin !== undefined && { stdin: a.stdin }),
        },
        signalOf(extra),
      )
      const how = r.timed_out
        ? `timed out after ${a.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS}s (killed)`
        : r.exit_code === null
          ? `ended by ${r.signal}`
          : `exit ${r.exit_code}`
      const cut = (t: boolean) => (t ? ' [truncated]' : '')
      return result(
        `${how}\n--- stdout${cut(r.stdout_truncated)} ---\n${r.stdout}\n--- stderr${cut(r.stderr_truncated)} ---\n${r.stderr}`,
        r,
      )
    },
  )

  server.registerTool(
    'gateway_request',
    {
      title: 'Call an API through the gateway',
      description:
        "Send one HTTP request through Airlock's gateway with the session (gateway providers only). path is relative to the provider's gateway URL. Returns the upstream's status and body; a request outside the session's class or environment is refused with the reason.",
      inputSchema: S.gatewayRequestInput,
      outputSchema: S.gatewayOutput,
    },
    async (a, extra) => {
      await asAgent()
      const use = await held.usable(a.session_id)
      const r = await gatewayRequest(use, a, signalOf(extra))
      return result(`HTTP ${r.status}${r.body_truncated ? ' [truncated]' : ''}\n${r.body}`, r)
    },
  )

  server.registerTool(
    'release_access',
    {
      title: 'Release access',
      description:
        'End a session when its task is done (or withdraw a pending request). Its credentials stop working at once.',
      inputSchema: S.releaseAccessInput,
      outputSchema: S.accessOutput,
      annotations: { idempotentHint: true },
    },
    async (a) => {
      await asAgent()
      return statusResult(await held.release(a.session_id))
    },
  )

  return server
}

/** Serves MCP on stdin/stdout until the host closes stdin or signals; then ends every session it opened. */
export async function serveMcp(c: ClientConfig): Promise<void> {
  const stopping = new AbortController()
  const held = heldSessions(c)
  const server = buildServer(c, held, stopping.signal)
  // A failure inside one call must not take the server down with every session it holds.
  process.on('unhandledRejection', (e) => process.stderr.write(`airlock mcp: ${String(e)}\n`))
  const closed = new Promise<string>((resolve) => {
    process.stdin.once('end', () => resolve('stdin closed'))
    process.stdout.once('error', () => resolve('stdout closed'))
    server.server.onclose = () => resolve('connection closed')
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, () => resolve(sig))
  })
  await server.connect(new StdioServerTransport())
  const why = await closed
  stopping.abort()
  const deadline = new Promise<null>((r) => setTimeout(() => r(null), CLOSE_DEADLINE_MS).unref())
  const left = await Promise.race([held.endAll(), deadline])
  if (left === null || left.length > 0) {
    process.stderr.write(
      `airlock mcp: ${why}; could not end ${left === null ? 'every session' : left.join(', ')}: revoke with \`airlock revoke\`\n`,
    )
  }
  // A command that ignored the SIGTERM of the abort would outlive the grace period's timer.
  killRunning()
  process.exit(0)
}
