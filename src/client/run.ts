// Runs a command with a grant's credentials in its environment only: `airlock exec` (the terminal's
// stdio) and the MCP server's run_with_access (captured output, a timeout) share this.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { credentialEnv, type Grant } from './sessions.js'

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/**
 * The child's environment: ours plus the grant's credentials, never a file. The agent's own API
 * key stays out: the child gets this session, not the right to ask for more.
 */
export function childEnv(grant: Grant, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { AIRLOCK_TOKEN: _own, ...inherited } = base
  const added = credentialEnv(grant)
  // A named profile outranks the AWS_* keys (the JS SDK skips them when AWS_PROFILE is set): the
  // child would run with the person's own profile instead of the session.
  if (added['AWS_ACCESS_KEY_ID'] !== undefined) {
    delete inherited['AWS_PROFILE']
    delete inherited['AWS_DEFAULT_PROFILE']
  }
  // libpq reads a service's settings before PGUSER and PGPASSWORD, and PGHOSTADDR instead of
  // PGHOST: an inherited one would connect with other credentials, or hand the session's to another host.
  if (added['PGUSER'] !== undefined)
    for (const k of ['PGSERVICE', 'PGSERVICEFILE', 'PGHOSTADDR']) delete inherited[k]
  return { ...inherited, ...added }
}

/**
 * Starts `command` (argv, no shell) with the grant's credentials. `exited` resolves with the exit
 * code, or 127 when the command cannot be started (`onSpawnError` says why).
 */
export function startWithGrant(
  grant: Grant,
  command: readonly string[],
  opts: {
    stdio: StdioOptions
    /** The environment to start from (default ours); the grant's credentials are added to it. */
    env?: NodeJS.ProcessEnv
    cwd?: string
    detached?: boolean
    onSpawnError?: (e: Error) => void
  },
): { child: ChildProcess; exited: Promise<Exit> } {
  const [file, ...args] = command as [string, ...string[]]
  const child = spawn(file, args, {
    stdio: opts.stdio,
    env: childEnv(grant, opts.env),
    ...(opts.cwd !== undefined && { cwd: opts.cwd }),
    ...(opts.detached && { detached: true }),
  })
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (e) => {
      opts.onSpawnError?.(e)
      resolve({ code: 127, signal: null })
    })
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  return { child, exited }
}
