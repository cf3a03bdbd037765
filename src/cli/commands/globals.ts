import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import { parseDuration } from '../../config/duration.js'

export interface Globals {
  url?: string
  profile?: string
  json?: boolean
}

export const globals = (cmd: Command): Globals => cmd.optsWithGlobals() as Globals

/** --ttl 15m -> seconds. */
export function parseTtl(v: string): number {
  try {
    return Math.floor(parseDuration(v) / 1000)
  } catch {
    throw new InvalidArgumentError('expected a duration like 90s, 15m, 1h')
  }
}
