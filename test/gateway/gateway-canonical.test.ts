// The canonical form of an approved gateway action: the same call whatever the JSON key order or
// the GraphQL whitespace, another call when anything that reaches the upstream differs.
import { describe, expect, it } from 'vitest'
import { actionDigest, requestDigest } from '../../src/gateway/canonical.js'

describe('action canonical form', () => {
  const body = {
    query: 'mutation D($v: String!) { volumeDelete(volumeId: $v) }',
    variables: { v: 'vol-prod-1' },
    operationName: 'D',
  }
  const digest = actionDigest({ method: 'POST', path: '/', body }, true) as string
  const req = (b: unknown, path = '', method = 'POST') =>
    requestDigest(method, path, Buffer.from(JSON.stringify(b)), true)

  it('ignores JSON key order, GraphQL whitespace and "" versus "/"', () => {
    expect(actionDigest({ method: 'post', path: '', body }, true)).toBe(digest)
    const reordered = {
      operationName: 'D',
      variables: { v: 'vol-prod-1' },
      query: 'mutation D($v: String!) {\n  volumeDelete( volumeId: $v )\n}',
    }
    expect(req(reordered)).toBe(digest)
    expect(req(reordered, '/')).toBe(digest)
  })

  it('tells a changed variable, an extra field, another operation name, path or method apart', () => {
    expect(req({ ...body, variables: { v: 'vol-staging-1' } })).not.toBe(digest)
    expect(
      req({
        ...body,
        query: 'mutation D($v: String!) { volumeDelete(volumeId: $v) projectDelete(id: "p") }',
      }),
    ).not.toBe(digest)
    expect(req({ ...body, operationName: null })).not.toBe(digest)
    expect(req(body, '/x')).not.toBe(digest)
    expect(req(body, '', 'PUT')).not.toBe(digest)
  })

  it('compares plain JSON bodies as JSON', () => {
    const a = actionDigest(
      { method: 'DELETE', path: '/api/v/1', body: { b: 1, a: [1, { d: 2, c: 3 }] } },
      false,
    )
    expect(requestDigest('DELETE', '/api/v/1', Buffer.from('{"a":[1,{"c":3,"d":2}],"b":1}'), false)).toBe(a)
    expect(requestDigest('DELETE', '/api/v/1', Buffer.from('{"a":[1,{"c":3,"d":2}],"b":2}'), false)).not.toBe(
      a,
    )
  })
  it('tells numbers apart by their digits, even past 2^53, and binds a body with a repeated key to its very text', () => {
    const approved = actionDigest({ method: 'POST', path: '/api/v', body: '{"id":9007199254740993}' }, false)
    expect(requestDigest('POST', '/api/v', Buffer.from('{"id":9007199254740993}'), false)).toBe(approved)
    expect(requestDigest('POST', '/api/v', Buffer.from('{"id":9007199254740992}'), false)).not.toBe(approved)
    expect(requestDigest('POST', '/api/v', Buffer.from('{"id":9007199254740993.0}'), false)).not.toBe(
      approved,
    )
    // An approval given as a JSON value holds what its parser kept: the rounded number.
    const parsed = actionDigest({ method: 'POST', path: '/api/v', body: { id: 9007199254740992 } }, false)
    expect(requestDigest('POST', '/api/v', Buffer.from('{"id":9007199254740992}'), false)).toBe(parsed)
    expect(requestDigest('POST', '/api/v', Buffer.from('{"id":9007199254740993}'), false)).not.toBe(parsed)
    expect(requestDigest('POST', '/api/v', Buffer.from('{ "id" : 9007199254740992 }'), false)).toBe(parsed)

    // Parsers disagree on which of two equal keys wins: such a body matches only itself.
    const once = actionDigest({ method: 'POST', path: '/', body }, true)
    const twice = `{"query":"mutation { projectDelete(id: \\"p\\") }",${JSON.stringify(body).slice(1)}`
    expect(requestDigest('POST', '', Buffer.from(twice), true)).not.toBe(once)
    const asText = actionDigest({ method: 'POST', path: '/', body: twice }, true)
    expect(requestDigest('POST', '', Buffer.from(twice), true)).toBe(asText)
    expect(requestDigest('POST', '', Buffer.from(twice.replace('{"query"', '{ "query"')), true)).not.toBe(
      asText,
    )
  })

  it('tells a text body from a JSON object that holds the same text', () => {
    const asJson = actionDigest({ method: 'POST', path: '/api/run', body: { text: 'drop all' } }, false)
    expect(requestDigest('POST', '/api/run', Buffer.from('{"text":"drop all"}'), false)).toBe(asJson)
    expect(requestDigest('POST', '/api/run', Buffer.from('drop all'), false)).not.toBe(asJson)
    const asText = actionDigest({ method: 'POST', path: '/api/run', body: 'drop all' }, false)
    expect(requestDigest('POST', '/api/run', Buffer.from('drop all'), false)).toBe(asText)
    expect(requestDigest('POST', '/api/run', Buffer.from('{"text":"drop all"}'), false)).not.toBe(asText)
  })

  it('tells bodies apart by their bytes: malformed UTF-8 or a byte order mark matches no action', () => {
    const approved = actionDigest({ method: 'POST', path: '/api/v', body: { name: 'a\ufffdb' } }, false)
    const bytes = (...b: number[]) =>
      Buffer.concat([Buffer.from('{"name":"a'), Buffer.from(b), Buffer.from('b"}')])
    // U+FFFD sent as itself matches; bytes that a decoder would replace with it do not.
    expect(requestDigest('POST', '/api/v', bytes(0xef, 0xbf, 0xbd), false)).toBe(approved)
    expect(requestDigest('POST', '/api/v', bytes(0xff), false)).not.toBe(approved)
    expect(requestDigest('POST', '/api/v', bytes(0xe9), false)).not.toBe(approved)
    expect(requestDigest('POST', '/api/v', bytes(0xff), false)).not.toBe(
      requestDigest('POST', '/api/v', bytes(0xe9), false),
    )
    const plain = actionDigest({ method: 'POST', path: '/api/v', body: { a: 1 } }, false)
    expect(requestDigest('POST', '/api/v', Buffer.from('\ufeff{"a":1}'), false)).not.toBe(plain)
  })
})
