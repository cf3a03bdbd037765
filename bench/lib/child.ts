// Child processes of a benchmark run: stopping them, waiting until they answer, reading their logs.
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { StartError } from './resources.js'

const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null

/** SIGTERM, then SIGKILL after 5 s; resolves with the exit code (null when killed by a signal). */
export async function stopChild(c: ChildProcess): Promise<number | null> {
  if (exited(c)) return c.exitCode
  return new Promise((done) => {
    const kill = setTimeout(() => c.kill('SIGKILL'), 5000)
    c.once('exit', (code) => {
      clearTimeout(kill)
      done(code)
    })
    c.kill('SIGTERM')
  })
}

/**
 * Polls `probe` every 100 ms until it answers true, for up to 30 s. Fails (StartError) when the
 * child exits first or time runs out; `why` describes either failure.
 */
export async function waitUntilAnswers(
  child: ChildProcess,
  probe: () => Promise<boolean | string>,
  why: { exited: (code: string) => string; timedOut: (last: string) => string },
): Promise<void> {
  const deadline = Date.now() + 30_000
  let last = 'no answer'
  while (Date.now() < deadline) {
    if (exited(child)) throw new StartError(why.exited(String(child.exitCode ?? child.signalCode)))
    try {
      const r = await probe()
      if (r === true) return
      if (typeof r === 'string') last = r
    } catch (e) {
      last = (e as Error).message
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new StartError(why.timedOut(last))
}

export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no server log)'
  }
}

/** Warn/error lines of a (pino, JSON) log file, grouped by message. */
export function logWarnings(file: string): { lines: number; warnings: Record<string, number> } {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return { lines: 0, warnings: {} }
  }
  const warnings: Record<string, number> = {}
  let lines = 0
  for (const line of text.split('\n')) {
    if (!line) continue
    lines++
    let msg: string
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string }
      if ((j.level ?? 0) < 40) continue
      msg = `${j.level === 40 ? 'WARN' : 'ERROR'} ${j.msg ?? line.slice(0, 200)}`
    } catch {
      msg = `RAW ${line.slice(0, 200)}`
    }
    warnings[msg] = (warnings[msg] ?? 0) + 1
  }
  return { lines, warnings }
}
