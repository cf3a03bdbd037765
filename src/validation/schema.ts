// What people write (the config file, and each provider's part of it) is checked against TypeBox
// schemas; schemaProblems turns every violation into a problem naming its path
// (`providers[1].environments.staging.role_arn`) and saying what was expected. Messages never quote
// the value: it may be a secret written where a reference belongs.
//
// Annotations read here, besides JSON Schema's own keywords:
//   errorMessage  what the value should be (for any failure of the value itself)
//   whenMissing   why a required key matters: "required (<whenMissing>)"
//   unknownKey    on an object or a map, how to name a key it does not take ({key} is replaced);
//                 "unknown key" by default. A known key within two edits is suggested.
import { Type, type TSchema } from '@sinclair/typebox'
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value'
import { DURATION_HINT, DURATION_PATTERN } from './duration.js'
import { LITERAL_SECRET, SECRET_REF_PATTERN } from './secret-ref.js'

export interface Problem {
  path: string
  message: string
}

export type Report = (path: string, message: string) => void

// Building blocks, so every schema words the same thing the same way.
export const strict = <T extends Parameters<typeof Type.Object>[0]>(
  props: T,
  opts: { errorMessage?: string; unknownKey?: string } = {},
) => Type.Object(props, { additionalProperties: false, ...opts })
export const opt = <T extends TSchema>(s: T) => Type.Optional(s)
export const list = <T extends TSchema>(item: T, minItems = 0, errorMessage?: string) =>
  Type.Array(item, {
    minItems,
    errorMessage:
      errorMessage ?? (minItems > 0 ? `expected a list of at least ${minItems}` : 'expected a list'),
  })
/** A mapping from names (environments, operation classes, ...) to `value`. */
export const map = <T extends TSchema>(value: T, errorMessage: string, minProperties = 1) =>
  Type.Record(Type.String(), value, { minProperties, errorMessage })
export const int = (minimum: number, maximum: number, errorMessage?: string) =>
  Type.Integer({
    minimum,
    maximum,
    errorMessage: errorMessage ?? `expected an integer from ${minimum} to ${maximum}`,
  })
export const text = (maxLength = 512) =>
  Type.String({
    minLength: 1,
    maxLength,
    errorMessage: `expected a non-empty string of at most ${maxLength} characters`,
  })
export const pattern = (re: string, errorMessage: string) => Type.String({ pattern: re, errorMessage })
/** One of a few words; typed as their union. */
export const oneOf = <const T extends readonly string[]>(values: T, errorMessage: string) =>
  Type.Unsafe<T[number]>(
    Type.Union(
      values.map((v) => Type.Literal(v)),
      { errorMessage },
    ),
  )
export const bool = () => Type.Boolean({ errorMessage: 'expected true or false' })
export const Duration = pattern(DURATION_PATTERN, DURATION_HINT)
export const SecretRef = pattern(SECRET_REF_PATTERN, LITERAL_SECRET)
/** Marks a required key with why it matters, for the "required" message. */
export const needed = <T extends TSchema>(s: T, whenMissing: string): T => ({ ...s, whenMissing })

/** Every schema violation in `value`, one per path (the first, most telling one), under `base`. */
export function schemaProblems(schema: TSchema, value: unknown, base = ''): Problem[] {
  const byPath = new Map<string, string>()
  for (const e of Value.Errors(schema, value)) {
    const path = joinPath(base, toPath(e.path, value))
    // `required` comes before the type error of the same path.
    if (!byPath.has(path)) byPath.set(path, describe(e))
  }
  return [...byPath].map(([path, message]) => ({ path, message }))
}

function describe(e: ValueError): string {
  if (e.type === ValueErrorType.ObjectRequiredProperty) {
    const why: unknown = e.schema['whenMissing']
    return typeof why === 'string' ? `required (${why})` : 'required'
  }
  if (e.type === ValueErrorType.ObjectAdditionalProperties) {
    const key = unescape(e.path.slice(e.path.lastIndexOf('/') + 1))
    const props: unknown = e.schema['properties']
    const named: unknown = e.schema['unknownKey']
    const message = typeof named === 'string' ? named.replaceAll('{key}', key) : 'unknown key'
    const near = isRecord(props) ? Object.keys(props).find((k) => editDistance(k, key) <= 2) : undefined
    return near ? `${message} (did you mean '${near}'?)` : message
  }
  const custom: unknown = e.schema['errorMessage']
  if (typeof custom === 'string') return custom
  if (e.type === ValueErrorType.Object) return 'expected a mapping (key: value)'
  // TypeBox's own wording ("Expected string"); it never quotes the value.
  return e.message.charAt(0).toLowerCase() + e.message.slice(1)
}

const unescape = (seg: string): string => seg.replace(/~1/g, '/').replace(/~0/g, '~')

/** JSON pointer → `a.b[2].c`, using the document to tell array indices from numeric keys. */
function toPath(pointer: string, root: unknown): string {
  let out = ''
  let node = root
  for (const seg of pointer.split('/').slice(1)) {
    const key = unescape(seg)
    if (Array.isArray(node)) {
      out += `[${key}]`
      node = node[Number(key)]
    } else {
      out += out ? `.${key}` : key
      node = isRecord(node) ? node[key] : undefined
    }
  }
  return out
}

/** `base` and a path under it: `providers[1]` + `region`, or + `[0]`. */
export const joinPath = (base: string, sub: string): string =>
  sub === '' ? base : base === '' ? sub : sub.startsWith('[') ? base + sub : `${base}.${sub}`

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost)
    }
    prev = cur
  }
  return prev[b.length] ?? 0
}
