// Small encodings both stores share: a chain head ("seq:hash") and the opaque listing cursor.
import type { ChainHead } from './types.js'

export function parseHead(raw: string | null | undefined): ChainHead | null {
  if (!raw) return null
  const i = raw.indexOf(':')
  return { seq: Number(raw.slice(0, i)), hash: raw.slice(i + 1) }
}

export const encodeCursor = (ms: number, id: string): string =>
  Buffer.from(`${ms}:${id}`).toString('base64url')

export function decodeCursor(cursor: string): [number, string] {
  const raw = Buffer.from(cursor, 'base64url').toString()
  const i = raw.indexOf(':')
  const ms = Number(raw.slice(0, i))
  if (i < 1 || !Number.isFinite(ms)) throw new RangeError('bad cursor')
  return [ms, raw.slice(i + 1)]
}
