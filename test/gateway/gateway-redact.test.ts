// Redaction of the upstream credential from gateway answers: a whole body, and a streamed one cut
// into chunks at every possible place, give the same bytes; the stream holds back only what could
// begin a secret, so an answer that never echoes it flows through chunk by chunk.
import { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import {
  pendingLength,
  REDACTED,
  redactBuffer,
  redactStream,
  redactText,
  searchForms,
} from '../../src/gateway/redact.js'

const SECRET = 'tok_abcabd"x'
const SECRETS = [SECRET, JSON.stringify(SECRET).slice(1, -1)] // as sent, and inside a JSON string
const FORMS = searchForms(SECRETS)

/** What a stream makes of `chunks`, and the chunks it emitted. */
async function streamed(chunks: Buffer[], secrets = SECRETS): Promise<{ out: string; emitted: Buffer[] }> {
  const emitted: Buffer[] = []
  const s = Readable.from(chunks, { objectMode: false }).pipe(redactStream(searchForms(secrets)))
  // 'data' events, one per chunk pushed (an async iterator would merge what is buffered).
  s.on('data', (c: Buffer) => emitted.push(c))
  await finished(s)
  return { out: Buffer.concat(emitted).toString(), emitted }
}

/** Every way to cut `text` into two and into three pieces. */
function cuts(text: string): Buffer[][] {
  const b = Buffer.from(text)
  const out: Buffer[][] = []
  for (let i = 0; i <= b.length; i++) {
    out.push([b.subarray(0, i), b.subarray(i)])
    for (let j = i; j <= b.length; j += 3) out.push([b.subarray(0, i), b.subarray(i, j), b.subarray(j)])
  }
  return out.map((parts) => parts.filter((p) => p.length > 0))
}

describe('gateway redaction', () => {
  const body = `{"echo":"${JSON.stringify(SECRET).slice(1, -1)}","again":"${SECRET}${SECRET}","near":"tok_abcab tok_abcabc"}`
  const whole = redactBuffer(Buffer.from(body), FORMS).toString()

  it('a whole body: every occurrence of each form, adjacent ones too; near misses stay', () => {
    expect(whole).toBe(
      `{"echo":"${REDACTED}","again":"${REDACTED}${REDACTED}","near":"tok_abcab tok_abcabc"}`,
    )
    const clean = Buffer.from('{"ok":true}')
    expect(redactBuffer(clean, FORMS)).toBe(clean) // nothing to replace: no copy
  })

  it('a streamed body cut anywhere, in two or three chunks, comes out exactly as the whole one', async () => {
    for (const chunks of cuts(body)) expect((await streamed(chunks)).out).toBe(whole)
  })

  it('a body sent one byte at a time is still redacted', async () => {
    const bytes = [...Buffer.from(body)].map((x) => Buffer.from([x]))
    expect((await streamed(bytes)).out).toBe(whole)
  })

  it('holds back only the end of a chunk that could begin a secret, never more than its length - 1', () => {
    const bufs = FORMS
    expect(pendingLength(Buffer.from('{"a":1}'), bufs)).toBe(0)
    expect(pendingLength(Buffer.from('x tok_'), bufs)).toBe(4)
    // The longest end that is a secret's beginning: "tok_abcab" (not just "ab")
    expect(pendingLength(Buffer.from('x tok_abcab'), bufs)).toBe(9)
    expect(pendingLength(Buffer.from(`x ${SECRET.slice(0, -1)}`), bufs)).toBe(SECRET.length - 1)
    expect(pendingLength(Buffer.from('t'), bufs)).toBe(1)
    expect(pendingLength(Buffer.alloc(0), bufs)).toBe(0)
  })

  it('chunks that cannot begin a secret pass through as they come, without waiting for the end', async () => {
    const chunks = ['{"items":[', '{"id":1},', '{"id":2}', ']}'].map((s) => Buffer.from(s))
    const { out, emitted } = await streamed(chunks)
    expect(out).toBe('{"items":[{"id":1},{"id":2}]}')
    expect(emitted.map(String)).toEqual(chunks.map(String))
  })

  it('an answer that ends with the beginning of a secret keeps those bytes', async () => {
    expect((await streamed([Buffer.from('a tok_'), Buffer.from('abc')])).out).toBe('a tok_abc')
  })

  it('empty and repeated secrets are left out; headers are redacted as text', () => {
    expect(searchForms(['', 'x', 'x']).map((f) => f.text)).toEqual(['x'])
    expect(redactText(`Bearer ${SECRET}`, FORMS)).toBe(`Bearer ${REDACTED}`)
    expect(redactText('nothing here', FORMS)).toBe('nothing here')
  })

  describe('escapes with hex digits in either case', () => {
    const ESCAPED = searchForms(['tok%2Fab%3D%3Dx', 'tok\\u003cab'])

    it('a form with an escape is kept once, whatever the case it was given in', () => {
      expect(searchForms(['a%2Fb', 'a%2fb', 'a%2fB']).map((f) => f.text)).toEqual(['A%2FB'])
      expect(searchForms(['tok_abc']).map((f) => f.anyCase)).toEqual([false])
    })

    it('matches each escape in either case, mixed within one occurrence, in text, whole and streamed', async () => {
      for (const echo of ['tok%2fab%3D%3dx', 'tok%2Fab%3d%3Dx', 'tok\\u003Cab']) {
        const body = `{"a":"${echo}"}`
        expect(redactText(body, ESCAPED)).toBe(`{"a":"${REDACTED}"}`)
        expect(redactBuffer(Buffer.from(body), ESCAPED).toString()).toBe(`{"a":"${REDACTED}"}`)
        for (const chunks of cuts(body)) {
          const out: Buffer[] = []
          const s = Readable.from(chunks, { objectMode: false }).pipe(redactStream(ESCAPED))
          s.on('data', (c: Buffer) => out.push(c))
          await finished(s)
          expect(Buffer.concat(out).toString()).toBe(`{"a":"${REDACTED}"}`)
        }
      }
    })

    it('a form without an escape is matched in its own case only', () => {
      expect(redactText('TOK_ABCABD"X', FORMS)).toBe('TOK_ABCABD"X')
      expect(redactText('tok%2Fab%3D%3Dy', ESCAPED)).toBe('tok%2Fab%3D%3Dy')
    })

    it('holds back the end of a chunk that begins an escaped form in the other case', () => {
      expect(pendingLength(Buffer.from('x tok%2f'), ESCAPED)).toBe(6)
      expect(pendingLength(Buffer.from('x tok%2g'), ESCAPED)).toBe(0)
    })
  })
})
