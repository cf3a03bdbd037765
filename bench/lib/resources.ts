// What a benchmark run starts (processes, Redis keys, a temporary folder) is registered here as it
// is made, and undone in reverse order exactly once: at the end, on failure, or on Ctrl-C.
import { spawnSync } from 'node:child_process'

export const log = (s: string) => process.stderr.write(`bench: ${s}\n`)

/** A start-up failure of a process the benchmark needs (reported without a stack). */
export class StartError extends Error {}

export class Resources {
  private readonly undo: { what: string; fn: () => Promise<unknown> }[] = []
  private closing: Promise<void> | null = null

  /** Registers `fn` to run at close (after everything registered later). */
  defer(what: string, fn: () => Promise<unknown>): void {
    this.undo.push({ what, fn })
  }

  /** Undoes everything, newest first; a failing step is logged and the rest still run. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const { what, fn } of this.undo.reverse()) {
        await fn().catch((e: unknown) => log(`${what}: ${(e as Error).message}`))
      }
    })()
    return this.closing
  }

  /** On SIGINT or SIGTERM: clean up, then exit 130. */
  closeOnSignals(): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        log(`${sig}: cleaning up`)
        void this.close().finally(() => process.exit(130))
      })
    }
  }
}

/** `npm run build` (the server runs from dist/); false when it failed. */
export function build(root: string): boolean {
  log('building (npm run build)')
  const b = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 2, 2] })
  if (b.status !== 0) log(`build failed (exit ${b.status ?? b.signal})`)
  return b.status === 0
}
