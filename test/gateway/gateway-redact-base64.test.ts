// A base64-encoded credential leaves nothing of its encoded run: not the characters that encode its
// bytes alone, nor the one or two at either end that mix its bits with its neighbours', nor what
// the run encodes around it, nor its padding. Table tests over every byte offset modulo 3 before
// and after the credential, both alphabets, whole and streamed (cut at every byte).
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { REDACTED, redactBuffer, redactStream, redactText, searchForms } from '../../src/gateway/redact.js'
import { base64Forms, credentialForms } from '../../src/gateway/secret-forms.js'

// Bytes whose base64 holds + and /, so the two alphabets differ.
const TOKEN = `tok_${randomBytes(12).toString('hex')}???>>>~~~`
const FORMS = searchForms(credentialForms(TOKEN), base64Forms(TOKEN))

const BEFORE = ['', 'x', 'xy', 'Bearer ', 'user:', 'svc-user:']
const AFTER = ['', 'z', 'zw', ':tail']
const ALPHABETS = ['base64', 'base64url'] as const
/** Text around the run that is not base64, as an answer would have it. */
const AROUND: [string, string][] = [
  ['{"auth":"', '","n":1}'],
  ['Authorization: Basic ', '\r\nnext: yes'],
  ['a=', '&b=2'],
]

const CASES = BEFORE.flatMap((pre) =>
  AFTER.flatMap((post) =>
    ALPHABETS.map((alphabet) => ({
      name: `${alphabet} of ${JSON.stringify(pre)} + token + ${JSON.stringify(post)}`,
      run: Buffer.from(pre + TOKEN + post).toString(alphabet),
    })),
  ),
)

async function streamed(chunks: Buffer[]): Promise<{ out: string; emitted: number }> {
  const out: Buffer[] = []
  const s = Readable.from(chunks, { objectMode: false }).pipe(redactStream(FORMS))
  s.on('data', (c: Buffer) => out.push(c))
  await finished(s)
  return { out: Buffer.concat(out).toString(), emitted: out.length }
}

describe('gateway: base64 of the credential', () => {
  it('the table covers every offset modulo 3 on both sides, and padding of 0, 1 and 2', () => {
    const offsets = new Set(BEFORE.map((p) => p.length % 3))
    expect([...offsets].sort()).toEqual([0, 1, 2])
    const pads = new Set(CASES.map((c) => /=*$/.exec(c.run)![0].length))
    expect([...pads].sort()).toEqual([0, 1, 2])
    expect(CASES.some((c) => /[+/]/.test(c.run))).toBe(true)
    expect(CASES.some((c) => /[-_]/.test(c.run))).toBe(true)
  })

  it.each(CASES)('$name: the whole run goes, the text around it stays', ({ run }) => {
    for (const [left, right] of AROUND) {
      const body = `${left}${run}${right}`
      const want = `${left}${REDACTED}${right}`
      expect(redactBuffer(Buffer.from(body), FORMS).toString()).toBe(want)
      expect(redactText(body, FORMS)).toBe(want)
    }
  })

  it.each(CASES)('$name: streamed, cut at every byte, gives the same', async ({ run }) => {
    const [left, right] = AROUND[0]!
    const body = Buffer.from(`${left}${run}${right} and again ${run}`)
    const want = `${left}${REDACTED}${right} and again ${REDACTED}`
    for (let i = 1; i < body.length; i++) {
      expect((await streamed([body.subarray(0, i), body.subarray(i)])).out).toBe(want)
    }
    expect((await streamed([...body].map((x) => Buffer.from([x])))).out).toBe(want)
  })

  it.each(CASES.filter((_, i) => i % 4 === 0))(
    '$name: cut anywhere between chunks larger than what a stream holds, gives the same',
    async ({ run }) => {
      // Long chunks take the path that searches a chunk alone after holding a run's end.
      const filler = `${'{"name":"some-repository","items":[1,2,3]},'.repeat(60)}"word`
      const body = `${filler}","auth":"${run}","more":"${filler}`
      const want = `${filler}","auth":"${REDACTED}","more":"${filler}`
      const at = body.indexOf(run)
      for (let i = at - 6; i <= at + run.length + 2; i++) {
        const chunks = [body.slice(0, i), body.slice(i)].map((x) => Buffer.from(x))
        expect((await streamed(chunks)).out).toBe(want)
      }
    },
  )

  it('the stream ends inside a run that was redacted: nothing more is sent', async () => {
    const run = Buffer.from(`Bearer ${TOKEN}`).toString('base64')
    const cut = run.length - 1
    expect((await streamed([Buffer.from(`x ${run.slice(0, cut)}`), Buffer.from(run.slice(cut))])).out).toBe(
      `x ${REDACTED}`,
    )
  })

  it('padding ends the run: what follows it stays, and a name before `=` stays', () => {
    const run = Buffer.from(`${TOKEN}z`).toString('base64')
    expect(run.endsWith('=')).toBe(true)
    expect(redactText(`KEY=${run}next`, FORMS)).toBe(`KEY=${REDACTED}next`)
  })

  it('other base64, and base64 next to the credential but apart from it, stays', () => {
    const other = Buffer.from('another value entirely, long enough').toString('base64')
    const run = Buffer.from(TOKEN).toString('base64')
    const body = `${other} ${run}.${other}`
    expect(redactText(body, FORMS)).toBe(`${other} ${REDACTED}.${other}`)
  })

  it('a long run before the credential: a stream takes back what it still holds, never a mixed character', async () => {
    const run = Buffer.from(`${'p'.repeat(8000)}x${TOKEN}`).toString('base64')
    const body = Buffer.from(`"${run}"`)
    expect(redactBuffer(body, FORMS).toString()).toBe(`"${REDACTED}"`)
    const chunks = [] as Buffer[]
    for (let i = 0; i < body.length; i += 1000) chunks.push(body.subarray(i, i + 1000))
    const { out } = await streamed(chunks)
    expect(out.endsWith(`${REDACTED}"`)).toBe(true)
    const kept = out.slice(1, -REDACTED.length - 1)
    expect(run.startsWith(kept)).toBe(true)
    // Everything from the last character that encodes the padding bytes alone is gone.
    expect(kept.length).toBeLessThanOrEqual(Math.floor((8000 * 8) / 6))
  })

  it('a long base64 answer without the credential streams through chunk by chunk', async () => {
    const chunks = Array.from({ length: 50 }, () => Buffer.from(randomBytes(3072).toString('base64')))
    const { out, emitted } = await streamed(chunks)
    expect(out).toBe(Buffer.concat(chunks).toString())
    expect(emitted).toBeGreaterThanOrEqual(49)
  })
})
