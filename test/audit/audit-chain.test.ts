// The audit hash chain as docs/api.md describes it: canonical JSON, the event hash, and the writer's
// fast path that must store exactly what verification recomputes.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { canonicalJson, hashEvent, sealEvent, type AuditEvent } from '../../src/audit/chain.js'
import { canon, sha256 } from '../support/audit.js'

describe('canonicalJson and hashEvent', () => {
  it('sorts keys recursively, keeps array order, drops undefined and has no whitespace', () => {
    const value = { b: 1, a: { d: [3, 1, { z: 1, y: 2 }], c: 'x y', u: undefined }, _: null, B: [] }
    expect(canonicalJson(value)).toBe('{"B":[],"_":null,"a":{"c":"x y","d":[3,1,{"y":2,"z":1}]},"b":1}')
    // Insertion order does not matter.
    expect(canonicalJson({ a: { c: 'x y', d: [3, 1, { y: 2, z: 1 }] }, _: null, B: [], b: 1 })).toBe(
      canonicalJson(value),
    )
    // Outside of strings there is no whitespace at all.
    const s = canonicalJson({ k: [1, { m: true, n: [null, 'sp ace'] }], j: { x: 1.5 } })
    expect(s.replace(/"(?:[^"\\]|\\.)*"/g, '""')).not.toMatch(/\s/)
    // Keys sort by code unit, also integer-like keys (not JavaScript's own property order).
    expect(canonicalJson({ 9: 'n', 10: 't', a: 1 })).toBe('{"10":"t","9":"n","a":1}')
    // Array order kept; undefined in arrays is null as in JSON.
    expect(canonicalJson([3, 2, 1, undefined])).toBe('[3,2,1,null]')
    // Strings escape exactly like JSON; primitives as JSON.
    expect(canonicalJson({ 'q"k': 'line\nbreak "quoted" é' })).toBe(
      `{${JSON.stringify('q"k')}:${JSON.stringify('line\nbreak "quoted" é')}}`,
    )
    expect(canonicalJson(null)).toBe('null')
    expect(canonicalJson(42)).toBe('42')
    expect(canonicalJson(false)).toBe('false')
    // It is valid JSON that round-trips.
    expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)))
  })

  it('hashEvent is the hex SHA-256 of the canonical JSON of the event without `hash`', () => {
    const event: AuditEvent = {
      type: 'session.issued',
      seq: 7,
      prev_hash: 'ab'.repeat(32),
      chain: 'ch_test',
      at: '2030-01-01T00:00:00.000Z',
      actor: 'build-bot',
      session_id: 'ses_abc',
      details: { z: [2, 1], a: { y: 'b', x: null } },
      hash: 'ignored',
    }
    const canonical =
      '{"actor":"build-bot","at":"2030-01-01T00:00:00.000Z","chain":"ch_test",' +
      '"details":{"a":{"x":null,"y":"b"},"z":[2,1]},"prev_hash":"' +
      'ab'.repeat(32) +
      '","seq":7,"session_id":"ses_abc","type":"session.issued"}'
    const { hash: _h, ...rest } = event
    expect(canonicalJson(rest)).toBe(canonical)
    expect(hashEvent(rest)).toBe(createHash('sha256').update(canonical, 'utf8').digest('hex'))
    expect(hashEvent(rest)).toMatch(/^[0-9a-f]{64}$/)
    // Any change of content changes the hash; key order does not.
    expect(hashEvent({ ...rest, details: { a: { y: 'b', x: null }, z: [1, 2] } })).not.toBe(hashEvent(rest))
    const reordered = Object.fromEntries(Object.entries(rest).reverse()) as Omit<AuditEvent, 'hash'>
    expect(hashEvent(reordered)).toBe(hashEvent(rest))
  })

  it.each([
    ['a session event', { session_id: 'ses_1', details: { b: [1, { d: null, c: 'x' }], a: 'é "q"\n' } }],
    ['no session, empty details', { session_id: null, details: {} }],
    [
      'fields of other types (the generic path)',
      { session_id: undefined as unknown as null, seq: 1.5, details: {} },
    ],
    ['odd strings', { actor: 'a"b\\c', type: 'x\u2028y', session_id: null, details: { '': 0, 10: 1, 9: 2 } }],
  ])('sealEvent (the writer fast path) hashes and stores exactly what hashEvent checks: %s', (_n, over) => {
    const body: Omit<AuditEvent, 'hash'> = {
      chain: 'ch_x',
      seq: 12,
      at: '2030-01-01T00:00:00.000Z',
      type: 'session.issued',
      actor: 'build-bot',
      prev_hash: 'cd'.repeat(32),
      ...over,
    }
    const { hash, line } = sealEvent(body)
    expect(hash).toBe(hashEvent(body))
    expect(hash).toBe(sha256(canon(body)))
    expect(JSON.parse(line)).toEqual({ ...body, hash })
  })
})
