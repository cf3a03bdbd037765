// Parsed GraphQL documents by their text. Agents send the same few queries again and again, and
// parsing is most of a GraphQL check: a document is parsed once and its root fields listed once,
// then found by its text. What depends on the request (operationName, variables, the session's
// class and environment) is still checked on every call. Bounded by entries and by characters,
// the least recently used going first; a document that does not parse is not kept.
import type { DocumentNode, OperationDefinitionNode } from 'graphql'
import { operationsOf, parseText, type RootField } from './classify-graphql.js'

export interface ParsedDocument {
  doc: DocumentNode
  /** Its operations and their root fields, or why they cannot be listed (a missing fragment...). */
  roots: { operations: OperationDefinitionNode[]; fields: RootField[] } | string
}

export interface DocumentCacheLimits {
  /** Documents kept. */
  entries: number
  /** Characters of query text kept, all documents together. */
  chars: number
  /** A longer document is parsed every time, never kept. */
  documentChars: number
}

const DEFAULT_DOCUMENT_LIMITS: DocumentCacheLimits = {
  entries: 1000,
  chars: 1024 * 1024,
  documentChars: 32 * 1024,
}

export interface DocumentCache {
  /** The parsed document and its root fields, or why the text is not a document to run. */
  get(query: string): ParsedDocument | string
  readonly size: number
  readonly chars: number
}

export function createDocumentCache(limits: DocumentCacheLimits = DEFAULT_DOCUMENT_LIMITS): DocumentCache {
  const kept = new Map<string, ParsedDocument>()
  let chars = 0
  return {
    get(query) {
      const hit = kept.get(query)
      if (hit) {
        // Map order is the recency order: a hit moves to the end.
        kept.delete(query)
        kept.set(query, hit)
        return hit
      }
      const doc = parseText(query)
      if (typeof doc === 'string') return doc
      const parsed = { doc, roots: operationsOf(doc) }
      if (query.length > limits.documentChars || limits.entries < 1) return parsed
      kept.set(query, parsed)
      chars += query.length
      for (const old of kept.keys()) {
        if (kept.size <= limits.entries && chars <= limits.chars) break
        kept.delete(old)
        chars -= old.length
      }
      return parsed
    },
    get size() {
      return kept.size
    },
    get chars() {
      return chars
    },
  }
}
