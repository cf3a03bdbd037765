// The parsed-document cache of GraphQL gateways: a document is parsed once and found again by its
// text; the cache stays within its entries and characters, the least recently used going first;
// what depends on the request (operationName, variables, the session's class) is checked each call.
import { describe, expect, it } from 'vitest'
import { checkGraphql } from '../../src/gateway/check.js'
import { createDocumentCache } from '../../src/gateway/documents.js'
import { containPath, type Contained } from '../../src/gateway/path.js'
import { railwayGatewayConfig } from '../support/fake-railway.js'

const cfg = railwayGatewayConfig()
const root = containPath('', '') as Contained
const q = (i: number) => `query Q${i} { me { id } }`

describe('GraphQL document cache', () => {
  it('parses a text once: the same document comes back', () => {
    const cache = createDocumentCache()
    const a = cache.get(q(1))
    expect(typeof a).toBe('object')
    expect(cache.get(q(1))).toBe(a)
    expect(cache.size).toBe(1)
  })

  it('keeps at most its entries, dropping the least recently used', () => {
    const cache = createDocumentCache({ entries: 3, chars: 1e6, documentChars: 1e6 })
    const first = cache.get(q(1))
    cache.get(q(2))
    cache.get(q(3))
    expect(cache.get(q(1))).toBe(first) // now the most recent
    cache.get(q(4)) // drops q(2), the least recently used
    expect(cache.size).toBe(3)
    expect(cache.get(q(1))).toBe(first)
    const second = cache.get(q(2))
    expect(cache.get(q(2))).toBe(second) // parsed again, kept again
    expect(cache.size).toBe(3)
  })

  it('keeps at most its characters, and never a document over its own limit', () => {
    const cache = createDocumentCache({ entries: 1000, chars: 100, documentChars: 60 })
    for (let i = 0; i < 50; i++) cache.get(q(i))
    expect(cache.chars).toBeLessThanOrEqual(100)
    expect(cache.size).toBe(Math.floor(100 / q(10).length))
    const big = `query Big { ${'me { id } '.repeat(10)} }`
    expect(big.length).toBeGreaterThan(60)
    const before = cache.size
    expect(typeof cache.get(big)).toBe('object')
    expect(cache.get(big)).not.toBe(cache.get(big))
    expect(cache.size).toBe(before)
  })

  it('does not keep text that does not parse', () => {
    const cache = createDocumentCache()
    expect(cache.get('query {')).toMatch(/does not parse/)
    expect(cache.get('type T { a: Int }')).toMatch(/only operations and fragments/)
    expect(cache.size).toBe(0)
  })

  it('a cached document is still checked against each request: operationName, class, arguments', () => {
    const cache = createDocumentCache()
    const two = 'query A { me { id } } mutation B { projectDelete(id: "p") }'
    const target = { provider: 'railway', environment: 'staging', operationClass: 'read' }
    const check = (body: unknown, cls = 'read') =>
      checkGraphql(
        cfg,
        { ...target, operationClass: cls },
        {
          method: 'POST',
          contentType: 'application/json',
          body: Buffer.from(JSON.stringify(body)),
          contained: root,
        },
        cache,
      )
    expect(check({ query: two })).toMatchObject({
      ok: false,
      status: 400,
      message: /name one with operationName/,
    })
    expect(check({ query: two, operationName: 'A' })).toMatchObject({ ok: false, status: 403 })
    expect(cache.size).toBe(1)
    expect(check({ query: two, operationName: 'Nope' })).toMatchObject({
      ok: false,
      message: /no operation named Nope/,
    })
    const volume = 'query V($v: String!) { volume(volumeId: $v) { id } }'
    expect(check({ query: volume, variables: { v: 'vol-staging-1' } })).toMatchObject({ ok: true })
    expect(check({ query: volume, variables: { v: 'vol-prod-1' } })).toMatchObject({
      ok: false,
      status: 403,
      refused: 'argument volumeId',
    })
    const mutation = 'mutation M { volumeDelete(volumeId: "vol-staging-1") }'
    expect(check({ query: mutation }, 'destructive')).toMatchObject({ ok: true })
    expect(check({ query: mutation }, 'read')).toMatchObject({ ok: false, status: 403 })
    expect(cache.size).toBe(3)
  })
})
