// Pieces every provider's config check uses, so each reports problems the same way.
import { isRecord } from '../src/config/schema.js'

export { isRecord }

export type Report = (path: string, message: string) => void

/** Reports each key of `obj` outside `allowed` as `<at>.<key>`: "unknown key for <what>". */
export function unknownKeys(
  obj: Record<string, unknown>,
  allowed: readonly string[],
  at: string,
  what: string,
  report: Report,
): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) report(at ? `${at}.${key}` : key, `unknown key for ${what}`)
  }
}

/**
 * Starts checking one mapping of the config: a value that is not a mapping is reported
 * ("expected <shape>"), and so is every unknown key. `ok()` says whether nothing under it was
 * reported, through `bad` or here.
 */
export function section(
  value: unknown,
  at: string,
  shape: string,
  allowed: readonly string[],
  what: string,
  report: Report,
): { value: Record<string, unknown>; bad: Report; ok: () => boolean } | null {
  if (!isRecord(value)) {
    report(at, `expected ${shape}`)
    return null
  }
  let ok = true
  const bad: Report = (path, message) => {
    ok = false
    report(path, message)
  }
  unknownKeys(value, allowed, at, what, bad)
  return { value, bad, ok: () => ok }
}
