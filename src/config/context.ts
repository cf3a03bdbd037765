// What every section builder of the loader shares: the raw document, the parse options, where
// problems go, and the helpers that read parts of the document that passed the schema, parse
// durations and resolve secret references (reporting a failure at its path rather than throwing).
import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { parseDuration } from '../validation/duration.js'
import { isRecord, type Report } from '../validation/schema.js'
import type { ResolveOptions } from './secrets.js'
import type { DeferredSecret } from './types.js'

export type { Report }

export interface ParseOptions extends ResolveOptions {
  /** `airlock dev`: no Redis URL means the in-memory store. */
  allowMissingStore?: boolean
}

export interface BuildContext {
  raw: Record<string, unknown>
  opts: ParseOptions
  report: Report
  /** The section if it passed the schema (absent counts as `{}`); null when it did not. */
  section<T extends TSchema>(schema: T, key: string): Static<T> | null
  /** A top-level list as written ([] when it is not a list). */
  rawList(key: string): unknown[]
  /** Elements of a top-level list that passed the schema, with their index in the file. */
  items<T extends TSchema>(schema: T, key: string): [Static<T>, number][]
  /**
   * Each element's `field` as written, when it is a string. Names come from the raw file, so one bad
   * field in an element does not also make every reference to that element an "unknown" problem.
   */
  rawField(key: string, field: string): (string | null)[]
  /** Names to check references against; null when the list itself is broken (already reported). */
  names(key: string, field: string): Set<string> | null
  /** Milliseconds; a bad duration is reported (then 0). */
  duration(path: string, value: string): number
  /** Token lifetimes are JWT seconds, so they must be whole seconds. */
  ttlSeconds(path: string, value: string): number
  /** Resolves a secret reference, reporting a failure at `path` (then null). */
  secret(path: string, resolveIt: () => string): string | null
  /** A `vault:` reference in a field that allows one resolves after the vault opens (null until then). */
  deferrable(field: DeferredSecret['field'], ref: string, resolveIt: () => string): string | null
  /** The `vault:` references deferrable() set aside, in the order met. */
  deferred: DeferredSecret[]
}

/** Top-level lists the schema requires: when missing, references to them are not checked again. */
const REQUIRED_LISTS = new Set(['environments', 'operation_classes'])

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : 'invalid value')

export function buildContext(raw: Record<string, unknown>, opts: ParseOptions, report: Report): BuildContext {
  const rawList = (key: string): unknown[] => {
    const v = raw[key]
    return Array.isArray(v) ? v : []
  }
  const rawField = (key: string, field: string): (string | null)[] =>
    rawList(key).map((el) => (isRecord(el) && typeof el[field] === 'string' ? el[field] : null))
  const duration = (path: string, value: string): number => {
    try {
      return parseDuration(value)
    } catch (e) {
      report(path, errorText(e))
      return 0
    }
  }
  const secret = (path: string, resolveIt: () => string): string | null => {
    try {
      return resolveIt()
    } catch (e) {
      report(path, errorText(e))
      return null
    }
  }
  const deferred: DeferredSecret[] = []
  return {
    raw,
    opts,
    report,
    section: (schema, key) => {
      const value = raw[key] ?? {}
      return Value.Check(schema, value) ? value : null
    },
    rawList,
    items: <T extends TSchema>(schema: T, key: string) =>
      rawList(key).flatMap((el, i): [Static<T>, number][] => (Value.Check(schema, el) ? [[el, i]] : [])),
    rawField,
    names: (key, field) =>
      Array.isArray(raw[key]) || (raw[key] === undefined && !REQUIRED_LISTS.has(key))
        ? new Set(rawField(key, field).filter((n) => n !== null))
        : null,
    duration,
    ttlSeconds: (path, value) => {
      const ms = duration(path, value)
      if (ms % 1000 !== 0) report(path, 'expected a whole number of seconds (like 90s, 15m)')
      return Math.floor(ms / 1000)
    },
    secret,
    deferrable: (field, ref, resolveIt) => {
      if (ref.startsWith('vault:')) {
        deferred.push({ field, ref })
        return null
      }
      return secret(field, resolveIt)
    },
    deferred,
  }
}

/** Each repeated name after its first, with the index of the first. */
export function duplicates(
  names: (string | null)[],
  found: (i: number, first: number, name: string) => void,
): void {
  const seen = new Map<string, number>()
  names.forEach((n, i) => {
    if (n === null) return
    const first = seen.get(n)
    if (first === undefined) seen.set(n, i)
    else found(i, first, n)
  })
}

function parseUrl(s: string): URL | null {
  try {
    return new URL(s)
  } catch {
    return null
  }
}

export const isHttpUrl = (s: string): boolean => ['http:', 'https:'].includes(parseUrl(s)?.protocol ?? '')

/** An https URL, or an http one on loopback (nothing crosses a network in clear). */
export function isHttpsOrLoopback(s: string): boolean {
  const u = parseUrl(s)
  if (u?.protocol === 'https:') return true
  return u?.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname)
}

/** OIDC keys fetched over plain http could be swapped in transit, so http only for local tests. */
export const isIssuerUrl = isHttpsOrLoopback
