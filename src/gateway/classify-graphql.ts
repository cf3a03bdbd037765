// GraphQL classification from the parsed document (the reference `graphql` parser), never from
// text: every root field of every operation, by field name (aliases do not hide it), fragments and
// inline fragments expanded, @skip/@include ignored (a field counts as sent). Argument scoping
// walks every argument anywhere in the document, into input objects, lists and variables. How a
// request is read off HTTP is graphql-request.ts.
import {
  Kind,
  parse,
  type DirectiveNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql'
import { short } from './graphql-request.js'

/** What a class allows, as root field name patterns (`*` any run of characters). */
export interface FieldLists {
  queries: string[]
  mutations: string[]
  subscriptions: string[]
}

export type OperationType = 'query' | 'mutation' | 'subscription'

export interface RootField {
  type: OperationType
  name: string
}

export type Outcome =
  | { ok: true; operations: string[]; fields: RootField[] }
  | { ok: false; status: 400 | 403; message: string; refused: string }

const MAX_TOKENS = 20_000
const LINE_BREAKS_ELSEWHERE = /[\u0085\u2028\u2029]/
const LIST_OF: Record<OperationType, keyof FieldLists> = {
  query: 'queries',
  mutation: 'mutations',
  subscription: 'subscriptions',
}

const patternCache = new Map<string, RegExp>()
function fieldMatches(pattern: string, name: string): boolean {
  if (pattern === '*') return true
  if (!pattern.includes('*')) return pattern === name
  let re = patternCache.get(pattern)
  if (!re) {
    re = new RegExp(`^${pattern.split('*').join('.*')}$`) // patterns are [A-Za-z0-9_*] only (config check)
    patternCache.set(pattern, re)
  }
  return re.test(name)
}

/** The list a root field is checked against: introspection fields count as queries wherever they appear. */
const listFor = (f: RootField): keyof FieldLists => (f.name.startsWith('__') ? 'queries' : LIST_OF[f.type])

export const fieldAllowed = (lists: FieldLists, f: RootField): boolean =>
  lists[listFor(f)].some((p) => fieldMatches(p, f.name))

/** Parses a document; a string says why it cannot be run. */
export function parseDocument(query: string, operationName: string | null): DocumentNode | string {
  const doc = parseText(query)
  return typeof doc === 'string' ? doc : pickOperation(doc, operationName)
}

/** The document of a query text, holding only operations and fragments; a string says why not. */
export function parseText(query: string): DocumentNode | string {
  // graphql-java ends a # comment at U+2028 and U+2029 (some lexers at U+0085 too); graphql-js
  // does not, so a field after one would run upstream unchecked. In a string, escape them.
  if (LINE_BREAKS_ELSEWHERE.test(query))
    return 'the GraphQL document holds U+2028, U+2029 or U+0085, which some servers read as a line break: leave it out, or write it as \\u2028 (\\u2029, \\u0085) in a string'
  let doc: DocumentNode
  try {
    doc = parse(query, { noLocation: true, maxTokens: MAX_TOKENS })
  } catch (e) {
    return `the GraphQL document does not parse: ${(e as Error).message.split('\n')[0]}`
  }
  if (
    doc.definitions.some((d) => d.kind !== Kind.OPERATION_DEFINITION && d.kind !== Kind.FRAGMENT_DEFINITION)
  )
    return 'the GraphQL document may hold only operations and fragments'
  if (!doc.definitions.some((d) => d.kind === Kind.OPERATION_DEFINITION))
    return 'the GraphQL document has no operation'
  return doc
}

/** The document when operationName picks a single operation to run in it; a string says why not. */
export function pickOperation(doc: DocumentNode, operationName: string | null): DocumentNode | string {
  const ops = doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION)
  if (ops.length > 1 && operationName === null)
    return 'the GraphQL document holds several operations: name one with operationName'
  if (operationName !== null && !ops.some((o) => o.name?.value === operationName))
    return `the GraphQL document has no operation named ${operationName}`
  return doc
}

/** Root fields one document may add up to, counted over every fragment spread it expands. */
const MAX_ROOT_WORK = 50_000

/**
 * Root fields of operations, fragments expanded, each field once (in the order first met). A
 * fragment's fields are found once per operation type and reused at each spread, so a document
 * whose fragments spread each other twice over costs its size, not 2^depth.
 */
function rootFieldsOf(fragments: Map<string, FragmentDefinitionNode>) {
  const memo = new Map<string, Map<string, RootField>>()
  let work = 0
  const add = (out: Map<string, RootField>, key: string, f: RootField): string | null => {
    if (++work > MAX_ROOT_WORK) return 'the GraphQL document spreads its fragments too many times'
    if (!out.has(key)) out.set(key, f)
    return null
  }
  const expand = (
    set: SelectionSetNode,
    type: OperationType,
    out: Map<string, RootField>,
    stack: Set<string>,
  ): string | null => {
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        const e = add(out, sel.name.value, { type, name: sel.name.value })
        if (e) return e
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const e = expand(sel.selectionSet, type, out, stack)
        if (e) return e
      } else {
        const name = sel.name.value
        const frag = fragments.get(name)
        if (!frag) return `the GraphQL document uses an undefined fragment ${name}`
        if (stack.has(name)) return `the GraphQL fragment ${name} spreads itself`
        const key = `${type} ${name}`
        let fields = memo.get(key)
        if (!fields) {
          fields = new Map()
          stack.add(name)
          const e = expand(frag.selectionSet, type, fields, stack)
          stack.delete(name)
          if (e) return e
          memo.set(key, fields)
        }
        for (const [k, f] of fields) {
          const e = add(out, k, f)
          if (e) return e
        }
      }
    }
    return null
  }
  return expand
}

export interface Scope {
  /** Every argument name some environment scopes. */
  scoped: Set<string>
  /** This environment's allowed values per scoped name (absent: no value allowed). */
  allowed: Record<string, string[]>
}

/**
 * Checks every argument in the document (operations and fragments, at any depth, directives too)
 * against the scope; returns the refused argument name and value, or null.
 */
export function checkArguments(
  doc: DocumentNode,
  variables: Record<string, unknown>,
  scope: Scope,
): { name: string; value: string } | null {
  if (scope.scoped.size === 0) return null
  const defaults = new Map<string, ValueNode[]>()
  for (const d of doc.definitions)
    if (d.kind === Kind.OPERATION_DEFINITION)
      for (const v of d.variableDefinitions ?? [])
        if (v.defaultValue)
          defaults.set(v.variable.name.value, [
            ...(defaults.get(v.variable.name.value) ?? []),
            v.defaultValue,
          ])

  const refuse = (name: string, value: unknown) => ({ name, value: short(value) })
  const allowedValue = (name: string, v: unknown) =>
    (typeof v === 'string' || typeof v === 'number') && (scope.allowed[name] ?? []).includes(String(v))

  const json = (name: string, v: unknown): { name: string; value: string } | null => {
    if (Array.isArray(v)) {
      for (const x of v) {
        const r = json(name, x)
        if (r) return r
      }
      return null
    }
    if (scope.scoped.has(name)) return allowedValue(name, v) ? null : refuse(name, v)
    if (typeof v === 'object' && v !== null)
      for (const [k, x] of Object.entries(v)) {
        const r = json(k, x)
        if (r) return r
      }
    return null
  }

  const node = (name: string, v: ValueNode): { name: string; value: string } | null => {
    switch (v.kind) {
      case Kind.VARIABLE: {
        const key = v.name.value
        if (Object.hasOwn(variables, key)) {
          const r = json(name, variables[key])
          if (r) return r
        } else if (scope.scoped.has(name) && !defaults.has(key)) return null // unset: touches nothing
        for (const d of defaults.get(key) ?? []) {
          const r = node(name, d)
          if (r) return r
        }
        return null
      }
      case Kind.LIST:
        for (const x of v.values) {
          const r = node(name, x)
          if (r) return r
        }
        return null
      case Kind.OBJECT:
        if (scope.scoped.has(name)) return refuse(name, '{...}')
        for (const f of v.fields) {
          const r = node(f.name.value, f.value)
          if (r) return r
        }
        return null
      case Kind.STRING:
      case Kind.INT:
      case Kind.FLOAT:
      case Kind.ENUM:
        return scope.scoped.has(name) && !allowedValue(name, v.value) ? refuse(name, v.value) : null
      case Kind.BOOLEAN:
      case Kind.NULL:
        // a scoped argument must name one of its values
        return scope.scoped.has(name) ? refuse(name, v.kind === Kind.NULL ? null : v.value) : null
    }
  }

  let found: { name: string; value: string } | null = null
  const directives = (ds: readonly DirectiveNode[] | undefined) => {
    for (const d of ds ?? []) for (const a of d.arguments ?? []) found ??= node(a.name.value, a.value)
  }
  const walk = (set: SelectionSetNode | undefined) => {
    for (const sel of set?.selections ?? []) {
      if (found) return
      directives(sel.directives)
      if (sel.kind === Kind.FIELD) for (const a of sel.arguments ?? []) found ??= node(a.name.value, a.value)
      if (sel.kind !== Kind.FRAGMENT_SPREAD) walk(sel.selectionSet)
    }
  }
  for (const d of doc.definitions) {
    if (d.kind !== Kind.OPERATION_DEFINITION && d.kind !== Kind.FRAGMENT_DEFINITION) continue
    // Directives on the definition and its variables take arguments too.
    directives(d.directives)
    if (d.kind === Kind.OPERATION_DEFINITION)
      for (const v of d.variableDefinitions ?? []) directives(v.directives)
    walk(d.selectionSet)
  }
  return found
}

/** Every root field of every operation in the document. */
export function operationsOf(
  doc: DocumentNode,
): { operations: OperationDefinitionNode[]; fields: RootField[] } | string {
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d)
  const operations = doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION)
  const expand = rootFieldsOf(fragments)
  const fields: RootField[] = []
  for (const op of operations) {
    const found = new Map<string, RootField>()
    const e = expand(op.selectionSet, op.operation as OperationType, found, new Set())
    if (e) return e
    for (const f of found.values()) fields.push(f)
  }
  return { operations, fields }
}
