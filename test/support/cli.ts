// Runs the real `airlock` CLI as a child process.
import { spawn, type ChildProcess } from 'node:child_process'

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  out: string
  err: string
}

export function startCli(
  args: string[],
  env: Record<string, string | undefined>,
  stdin = '',
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  child.stdin?.end(stdin)
  const done = new Promise<CliResult>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, out, err })),
  )
  return { child, done }
}

export const runCli = (args: string[], env: Record<string, string | undefined>, stdin = '') =>
  startCli(args, env, stdin).done
