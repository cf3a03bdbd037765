// run_with_access: one command with the session's credentials in its environment, its output
// captured, cut at OUTPUT_LIMIT and redacted, its whole process group killed at the timeout.
import { stat } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { startWithGrant } from '../client/run.js'
import type { Grant } from '../client/sessions.js'
import type { Redactor } from './redact.js'

/** Characters of each stream a result keeps (the start of the output). */
export const OUTPUT_LIMIT = 16_384
/** After SIGTERM at the timeout, how long the process group has before SIGKILL. */
const KILL_GRACE_MS = 2_000

export interface RunInput {
  command: string[]
  cwd?: string
  stdin?: string
  timeoutSeconds: number
}

export interface RunResult {
  exit_code: number | null
  signal: string | null
  timed_out: boolean
  stdout: string
  stderr: string
  stdout_truncated: boolean
  stderr_truncated: boolean
}

/** Keeps the first `cap` bytes of a stream and counts the rest (the child is never blocked). */
function capture(stream: Readable | null, cap: number) {
  const chunks: Buffer[] = []
  let kept = 0
  let total = 0
  const ended = new Promise<void>((resolve) => {
    if (!stream) return resolve()
    stream.on('data', (b: Buffer) => {
      total += b.length
      if (kept < cap) {
        chunks.push(b.subarray(0, cap - kept))
        kept += Math.min(b.length, cap - kept)
      }
    })
    stream.once('close', resolve)
    stream.once('error', () => resolve())
  })
  return { ended, result: () => ({ text: Buffer.concat(chunks).toString('utf8'), cut: total > kept }) }
}

/** The process groups of commands still running: the server kills them before it exits. */
const running = new Set<number>()

/** Kills every command still running, and what it started (a closing server's timers will not run). */
export function killRunning(): void {
  for (const pid of running) killGroup(pid, 'SIGKILL')
}

const killGroup = (pid: number | undefined, sig: NodeJS.Signals) => {
  if (pid === undefined) return
  try {
    process.kill(-pid, sig)
  } catch {
    // the group is already gone
  }
}

export async function runCaptured(
  grant: Grant,
  redactor: Redactor,
  input: RunInput,
  signal: AbortSignal,
): Promise<RunResult> {
  if (input.cwd !== undefined) {
    const dir = await stat(input.cwd).catch(() => null)
    if (!dir?.isDirectory()) throw new Error(`cwd ${input.cwd} is not a directory`)
  }
  let spawnError: Error | null = null
  // Its own process group (detached), so a timeout reaches whatever the command started.
  const { child, exited } = startWithGrant(grant, input.command, {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
    ...(input.cwd !== undefined && { cwd: input.cwd }),
    onSpawnError: (e) => (spawnError = e),
  })
  // Keep enough past the limit that a secret crossing it is still seen whole, then redacted.
  if (child.pid !== undefined) running.add(child.pid)
  const cap = OUTPUT_LIMIT + 4096
  const out = capture(child.stdout, cap)
  const err = capture(child.stderr, cap)
  child.stdin?.on('error', () => {}) // a command that does not read its input
  child.stdin?.end(input.stdin ?? '')

  let timedOut = false
  let hardKill: NodeJS.Timeout | undefined
  const stop = () => {
    killGroup(child.pid, 'SIGTERM')
    hardKill = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS)
  }
  const timer = setTimeout(() => {
    timedOut = true
    stop()
  }, input.timeoutSeconds * 1000)
  signal.addEventListener('abort', stop, { once: true })
  try {
    const { code, signal: sig } = await exited
    // What the command left running in its group would keep the credentials: it goes too.
    killGroup(child.pid, 'SIGKILL')
    if (child.pid !== undefined) running.delete(child.pid)
    await Promise.race([
      Promise.all([out.ended, err.ended]),
      new Promise((r) => setTimeout(r, KILL_GRACE_MS).unref()),
    ])
    const o = out.result()
    const e = err.result()
    const failed = spawnError ? `cannot run ${input.command[0]}: ${(spawnError as Error).message}\n` : ''
    return {
      exit_code: code,
      signal: sig,
      timed_out: timedOut,
      stdout: redactor.redactHead(o.text, OUTPUT_LIMIT, o.cut),
      stderr: redactor.redactHead(failed + e.text, OUTPUT_LIMIT, e.cut),
      stdout_truncated: o.cut || o.text.length > OUTPUT_LIMIT,
      stderr_truncated: e.cut || e.text.length > OUTPUT_LIMIT,
    }
  } finally {
    clearTimeout(timer)
    clearTimeout(hardKill)
    signal.removeEventListener('abort', stop)
    child.stdout?.destroy()
    child.stderr?.destroy()
  }
}
