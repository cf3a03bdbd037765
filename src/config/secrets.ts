// Secret references: the config names where a secret lives, never the secret itself. Messages
// here name the reference (variable, path) and never the value, since they end up in logs.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { isSecretRef, LITERAL_SECRET } from '../validation/secret-ref.js'

export interface ResolveOptions {
  /** The config file's directory: `file:` paths are relative to it. */
  baseDir: string
  env: NodeJS.ProcessEnv
}

/**
 * An empty (or blank) secret is never a key: an HMAC keyed with '' is one anyone can compute, and
 * an empty password or token is no credential. `what` names where it came from, never the value.
 */
export function nonEmpty(value: string, what: string): string {
  if (value.trim() === '') throw new EmptySecretError(what)
  return value
}

export class EmptySecretError extends Error {
  constructor(what: string) {
    super(`${what} is empty`)
    this.name = 'EmptySecretError'
  }
}

/** The value behind `env:NAME` or `file:PATH`; throws for `vault:` (not in this release) and literals. */
export function resolveRef(ref: string, opts: ResolveOptions): string {
  const colon = ref.indexOf(':')
  const scheme = ref.slice(0, colon)
  const target = ref.slice(colon + 1)
  if (colon < 0 || target.length === 0) throw new Error(LITERAL_SECRET)
  switch (scheme) {
    case 'env': {
      const value = opts.env[target]
      if (value === undefined || value === '') throw new Error(`environment variable ${target} is not set`)
      return nonEmpty(value, `environment variable ${target}`)
    }
    case 'file': {
      const path = resolve(opts.baseDir, target)
      let text: string
      try {
        text = readFileSync(path, 'utf8')
      } catch (e) {
        // Only the error code: a message from a future Node could quote more than the path.
        const code = e instanceof Error && 'code' in e ? String(e.code) : 'unknown error'
        throw new Error(`cannot read ${path} (${code})`)
      }
      return nonEmpty(text.replace(/\r?\n$/, ''), `file ${path}`)
    }
    case 'vault':
      // Only values the vault itself needs (store.redis_url) get here; the rest are deferred.
      throw new Error(
        'a vault: reference cannot be used here: the vault needs this value to open (use env: or file:)',
      )
    default:
      throw new Error(LITERAL_SECRET)
  }
}

/** For values that may be written inline (store.redis_url): references resolve, literals pass. */
export const resolveMaybeRef = (value: string, opts: ResolveOptions): string =>
  isSecretRef(value) ? resolveRef(value, opts) : value
