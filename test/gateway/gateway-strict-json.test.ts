// The strict JSON reader the gateway checks and binds bodies with: it reads what JSON.parse reads,
// refuses what it refuses, and also refuses what parsers read differently (a repeated key, an
// integer past 2^53), or keeps a number's digits when asked to.
import { describe, expect, it } from 'vitest'
import { ExactNumber, parseStrictJson } from '../../src/gateway/strict-json.js'

const VALID = [
  '{}',
  '[]',
  ' { "a" : [ 1 , -2.5e3 , true , false , null , "x" ] } ',
  '"a \\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00"',
  '{"a":{"b":{"c":[[],{}]}}}',
  '0',
  '-0',
  '1E+2',
  '"\u00e9\u{1f600}"',
  '{"a":1,"A":2,"a ":3}',
  '[9007199254740991, -9007199254740991, 1.7976931348623157e308]',
  '\t\r\n"x"\n',
]
const INVALID = [
  '',
  ' ',
  '{',
  '[1,]',
  '{"a":1,}',
  "{'a':1}",
  '{a:1}',
  '01',
  '1.',
  '.5',
  '+1',
  'NaN',
  'Infinity',
  'tru',
  'nulll',
  '"\\x41"',
  '"\\u12"',
  '"a\u0001b"',
  '"unterminated',
  '"\\"',
  '{"a" 1}',
  '[1 2]',
  '1 2',
  '{"a":1}x',
  '\u00a0{}',
]

describe('strict JSON', () => {
  it.each(VALID)('reads %j as JSON.parse does', (text) => {
    expect(parseStrictJson(text)).toEqual({ value: JSON.parse(text) })
  })

  it.each(INVALID)('refuses %j as JSON.parse does', (text) => {
    expect(() => JSON.parse(text)).toThrow()
    expect(parseStrictJson(text)).toBe('the body is not valid JSON')
  })

  it('refuses a key given twice in one object, at any depth; the same key in two objects is fine', () => {
    expect(parseStrictJson('{"a":1,"b":{"c":1,"c":2}}', { what: 'variables' })).toBe(
      'variables gives the key "c" twice in one object',
    )
    expect(parseStrictJson('{"a":1,"a":1}')).toBe('the body gives the key "a" twice in one object')
    // The same key once escaped: one key all the same.
    expect(parseStrictJson('{"a":1,"\\u0061":2}')).toBe('the body gives the key "a" twice in one object')
    expect(parseStrictJson('[{"a":1},{"a":2}]')).toEqual({ value: [{ a: 1 }, { a: 2 }] })
  })

  it('refuses an integer JavaScript would round; with exact, keeps the digits of every such number', () => {
    expect(parseStrictJson('{"n":9007199254740993}')).toBe(
      'the body holds the number 9007199254740993, too large to check exactly: send it as a string',
    )
    // Past Number.MAX_VALUE JSON.parse makes it Infinity: refused all the same.
    const huge = `1${'0'.repeat(400)}`
    expect(parseStrictJson(`{"n":${huge}}`)).toBe(
      `the body holds the number ${huge.slice(0, 40)}, too large to check exactly: send it as a string`,
    )
    expect(parseStrictJson(`[${huge}]`, { exact: true })).toEqual({ value: [new ExactNumber(huge)] })
    expect(parseStrictJson('[9007199254740993, 1.50, 2]', { exact: true })).toEqual({
      value: [new ExactNumber('9007199254740993'), new ExactNumber('1.50'), 2],
    })
  })

  it('keeps __proto__ an own key, as JSON.parse does', () => {
    const r = parseStrictJson('{"__proto__":{"admin":true},"a":1}')
    if (typeof r === 'string') throw new Error(r)
    const v = r.value as Record<string, unknown>
    expect(Object.keys(v)).toEqual(['__proto__', 'a'])
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype)
    expect((v as { admin?: unknown }).admin).toBeUndefined()
  })

  it('refuses nesting deeper than it reads, without overflowing the stack', () => {
    expect(parseStrictJson(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toBe(
      'the body nests deeper than 512 levels',
    )
    expect(parseStrictJson(`${'['.repeat(500)}${']'.repeat(500)}`)).toEqual({
      value: JSON.parse(`${'['.repeat(500)}${']'.repeat(500)}`),
    })
  })
})
