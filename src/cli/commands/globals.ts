import { readFileSync } from 'node:fs'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { parseDuration } from '../../validation/duration.js'

export { packageVersion } from '../../version.js'

export interface Globals {
  url?: string
  profile?: string
  json?: boolean
}

export const globals = (cmd: Command): Globals => cmd.optsWithGlobals() as Globals

/** The options every command takes, before or after its name. */
const GLOBAL_OPTIONS = [
  ['--url <url>', 'broker URL (or AIRLOCK_URL, or the profile)'],
  ['--profile <name>', 'profile in ~/.config/airlock/config.yaml (or AIRLOCK_PROFILE)'],
  ['--json', 'machine-readable output'],
] as const

export function addGlobalOptions(program: Command): Command {
  for (const [flags, help] of GLOBAL_OPTIONS) program.option(flags, help)
  return program.configureHelp({ showGlobalOptions: true })
}

/**
 * Gives every subcommand the global options too (hidden in its own help, shown as global), so
 * `airlock sessions --json` works like `airlock --json sessions`. Run after every command is
 * registered; a command that defines one of these itself (login's --url) keeps its own.
 */
export function spreadGlobalOptions(cmd: Command): void {
  for (const sub of cmd.commands) {
    for (const [flags, help] of GLOBAL_OPTIONS) {
      const long = flags.split(' ')[0]
      if (!sub.options.some((o) => o.long === long)) sub.addOption(new Option(flags, help).hideHelp())
    }
    spreadGlobalOptions(sub)
  }
}

/** --action-file F -> the action: a JSON file {method, path, body?} naming the exact gateway call. */
export function parseActionFile(path: string): { method: string; path: string; body?: unknown } {
  let v: unknown
  try {
    v = JSON.parse(readFileSync(path, 'utf8')) as unknown
  } catch (e) {
    throw new InvalidArgumentError(`cannot read ${path} as JSON: ${(e as Error).message}`)
  }
  const o = v as Record<string, unknown>
  if (typeof v !== 'object' || v === null || typeof o['method'] !== 'string' || typeof o['path'] !== 'string')
    throw new InvalidArgumentError('expected a JSON object {"method", "path", "body"?}')
  return v as { method: string; path: string; body?: unknown }
}

/** --ttl 15m -> seconds. */
export function parseTtl(v: string): number {
  try {
    return Math.floor(parseDuration(v) / 1000)
  } catch {
    throw new InvalidArgumentError('expected a duration like 90s, 15m, 1h')
  }
}
