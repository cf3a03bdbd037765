import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import { readFileSync } from 'node:fs'
import { parseDuration } from '../../config/duration.js'

export interface Globals {
  url?: string
  profile?: string
  json?: boolean
}

export const globals = (cmd: Command): Globals => cmd.optsWithGlobals() as Globals

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
