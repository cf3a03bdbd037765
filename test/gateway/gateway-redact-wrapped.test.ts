// Base64 of the credential wrapped over lines: GitHub's contents API writes `\n` (a JSON escape)
// every 60 characters, MIME wraps at 76 and PEM at 64 with a real LF or CRLF. The break may fall
// anywhere in the credential's encoding; the whole wrapped run goes (every line, the breaks
// between them), and what is around it stays: the text before and after, the break that ends the
// last line, other wrapped base64. Whole, as text, and streamed (cut at every place on small cases).
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { REDACTED, redactBuffer, redactStream, redactText, searchForms } from '../../src/gateway/redact.js'
import { base64Forms, credentialForms } from '../../src/gateway/secret-forms.js'

// Bytes whose base64 holds + and /, so the two alphabets differ.
const TOKEN = `ghp_${randomBytes(12).toString('hex')}???>>>~~~`
const FORMS = searchForms(credentialForms(TOKEN), base64Forms(TOKEN))

/** `text` cut into lines of `width`, joined by `brk`. */
const wrap = (text: string, width: number, brk: string) =>
  text.match(new RegExp(`.{1,${width}}`, 'g'))!.join(brk)
const b64 = (s: string) => Buffer.from(s).toString('base64')

/** A GitHub contents answer: the file's base64 with `\n` every 60 characters and after the last. */
const github = (file: string) =>
  JSON.stringify({
    name: 'creds.env',
    encoding: 'base64',
    content: `${wrap(b64(file), 60, '\n')}\n`,
    size: 1,
  })
const githubRedacted = JSON.stringify({
  name: 'creds.env',
  encoding: 'base64',
  content: 'X\n',
  size: 1,
}).replace('X', REDACTED)

async function streamed(chunks: Buffer[]): Promise<string> {
  const out: Buffer[] = []
  const s = Readable.from(chunks, { objectMode: false }).pipe(redactStream(FORMS))
  s.on('data', (c: Buffer) => out.push(c))
  await finished(s)
  return Buffer.concat(out).toString()
}

const noForm = (out: string) => {
  for (const f of base64Forms(TOKEN)) expect(out.replace(/\\r|\\n|\r|\n/g, '')).not.toContain(f)
}

// A file of a few lines holding the token after `before` bytes: over 0..47 the 60-column break
// (45 bytes a line) falls at every place of the token's encoding, at each byte offset modulo 3.
const OFFSETS = Array.from({ length: 48 }, (_, i) => i)
const fileWith = (before: number, after = '\nLOG_LEVEL=debug\n') =>
  `${'# settings for the deploy bot, do not commit'.repeat(3).slice(0, before)}GITHUB_TOKEN=${TOKEN}${after}`

/** Wrapped the ways real encoders wrap, and the text around the block that stays. */
const STYLES: { name: string; block: (file: string) => string; left: string; right: string }[] = [
  { name: 'MIME, LF every 76', block: (f) => wrap(b64(f), 76, '\n'), left: 'body:\n', right: '\n\n--end\n' },
  {
    name: 'MIME, CRLF every 76',
    block: (f) => wrap(b64(f), 76, '\r\n'),
    left: 'x\r\n\r\n',
    right: '\r\n\r\n',
  },
  {
    name: 'PEM, LF every 64',
    block: (f) => wrap(b64(f), 64, '\n'),
    left: '-----BEGIN PRIVATE DATA-----\n',
    right: '\n-----END PRIVATE DATA-----\n',
  },
  { name: 'JSON \\r\\n every 76', block: (f) => wrap(b64(f), 76, '\\r\\n'), left: '{"data":"', right: '"}' },
  {
    name: 'JSON \\n every 64, base64url',
    block: (f) => wrap(Buffer.from(f).toString('base64url'), 64, '\\n'),
    left: '["',
    right: '\\n"]',
  }, // Indented: a YAML `|` block, pretty-printed XML, text in a JSON string; each line after a break
  // starts with spaces or tabs (up to INDENT_MAX), which go with the block.
  {
    name: 'YAML block, LF and 2 spaces every 76',
    block: (f) => wrap(b64(f), 76, '\n  '),
    left: 'data: |\n  ',
    right: '\nnext: yes\n',
  },
  {
    name: 'XML, CRLF and 2 tabs every 64',
    block: (f) => wrap(b64(f), 64, '\r\n\t\t'),
    left: '<v>\r\n\t\t',
    right: '\r\n\t</v>',
  },
  {
    name: 'JSON \\n and 64 spaces every 60',
    block: (f) => wrap(b64(f), 60, `\\n${' '.repeat(64)}`),
    left: `{"d":"\\n${' '.repeat(64)}`,
    right: '\\n"}',
  },
  { name: 'lone CR every 76', block: (f) => wrap(b64(f), 76, '\r'), left: 'x\r', right: '\r\r' },
  {
    name: 'JSON \\u000a and 4 spaces every 76',
    block: (f) => wrap(b64(f), 76, '\\u000a    '),
    left: '{"d":"',
    right: '\\u000a"}',
  },
  {
    name: 'JSON \\u000D\\u000A every 60, base64url',
    block: (f) => wrap(Buffer.from(f).toString('base64url'), 60, '\\u000D\\u000A'),
    left: '["',
    right: '\\u000d\\u000a"]',
  },
]

describe('gateway: base64 of the credential wrapped over lines', () => {
  it.each(OFFSETS)('GitHub contents, the token %i bytes into the file: the whole content goes', (before) => {
    const body = github(fileWith(before))
    expect(b64(fileWith(before)).length).toBeGreaterThan(60) // two lines or more
    expect(redactBuffer(Buffer.from(body), FORMS).toString()).toBe(githubRedacted)
    expect(redactText(body, FORMS)).toBe(githubRedacted)
  })

  // 60 is a multiple of 4 and the token starts at the 1st, 2nd or 3rd character of a group of 4,
  // so a break falls at 3 places in 4 of its encoding; the odd widths below take the rest.
  it('the table puts a break at every place a 60-column wrap can', () => {
    const places = new Set<number>()
    for (const before of OFFSETS) {
      const start = Math.floor(((before + 'GITHUB_TOKEN='.length) * 8) / 6)
      for (let at = 60; at < 400; at += 60) if (at > start && at < start + 50) places.add(at - start)
    }
    expect(places.size).toBeGreaterThanOrEqual(36)
  })

  it.each(STYLES)(
    '$name: the token at every offset, mid-line or not: the block goes',
    ({ block, left, right }) => {
      for (const before of [0, 1, 2, 7, 30, 44, 45, 46, 47]) {
        for (const after of ['', 'z', '\nmore=settings\n', 'a'.repeat(120)]) {
          const body = `${left}${block(fileWith(before, after))}${right}`
          const want = `${left}${REDACTED}${right}`
          expect(redactBuffer(Buffer.from(body), FORMS).toString()).toBe(want)
          expect(redactText(body, FORMS)).toBe(want)
        }
      }
    },
  )

  // At a width no encoder uses, a form within one line does not show that the lines around it are
  // one block (two values of one length on two lines are not): its line goes, a break in it shows
  // the block's width and the block goes.
  it.each([
    { name: 'LF every 61', block: (f: string) => wrap(b64(f), 61, '\n'), left: 'key: ', right: '' },
    { name: 'CRLF every 75', block: (f: string) => wrap(b64(f), 75, '\r\n'), left: '<v>', right: '</v>' },
  ])(
    '$name: the token at every offset: no form is left, streamed as whole',
    async ({ block, left, right }) => {
      for (const before of [0, 1, 2, 7, 30, 44, 45, 46, 47]) {
        for (const after of ['', 'z', '\nmore=settings\n', 'a'.repeat(120)]) {
          const text = block(fileWith(before, after))
          const body = `${left}${text}${right}`
          const out = redactBuffer(Buffer.from(body), FORMS).toString()
          noForm(out)
          expect(out.startsWith(left) && out.endsWith(right) && out.includes(REDACTED)).toBe(true)
          expect(redactText(body, FORMS)).toBe(out)
          const lines = text.split(/\r?\n/)
          const crossed = !lines.some((l) => base64Forms(TOKEN).some((f) => l.includes(f)))
          if (crossed) expect(out).toBe(`${left}${REDACTED}${right}`)
          const at = left.length + Math.floor(text.length / 2)
          expect(await streamed([Buffer.from(body.slice(0, at)), Buffer.from(body.slice(at))])).toBe(out)
        }
      }
    },
  )

  it('the token alone, wrapped at 8 so each of its lines is short: still found', () => {
    const body = `k: ${wrap(b64(TOKEN), 8, '\n')}\n`
    const out = redactText(body, FORMS)
    noForm(out)
    expect(out).toContain(REDACTED)
  })

  it('the block is one of several values: the others, wrapped or not, stay', () => {
    const other = wrap(b64(randomBytes(200).toString('latin1')), 60, '\\n')
    const body = `[{"content":"${other}\\n"},{"content":"${wrap(b64(fileWith(5)), 60, '\\n')}\\n"},{"content":"${other}\\n"}]`
    expect(redactText(body, FORMS)).toBe(
      `[{"content":"${other}\\n"},{"content":"${REDACTED}\\n"},{"content":"${other}\\n"}]`,
    )
  })

  it('lines of text around a block stay', () => {
    const block = wrap(b64(fileWith(3)), 76, '\n')
    expect(redactText(`before\n${block}\nafter: yes`, FORMS)).toBe(`before\n${REDACTED}\nafter: yes`)
    expect(redactText(`Basic ${b64(`u:${TOKEN}`)}\r\nnext: yes`, FORMS)).toBe(
      `Basic ${REDACTED}\r\nnext: yes`,
    )
  })

  it('a block whose last line is full, then a PEM end label: the label stays, whole and streamed', async () => {
    const file = fileWith(29)
    expect(file.length % 48).toBe(0) // lines of 64, the last full, no padding
    const body = `-----BEGIN DATA-----\n${wrap(b64(file), 64, '\n')}\n-----END DATA-----\n`
    const want = `-----BEGIN DATA-----\n${REDACTED}\n-----END DATA-----\n`
    expect(redactBuffer(Buffer.from(body), FORMS).toString()).toBe(want)
    const bytes = Buffer.from(body)
    for (let i = 1; i < bytes.length; i++)
      expect(await streamed([bytes.subarray(0, i), bytes.subarray(i)])).toBe(want)
    expect(await streamed([...bytes].map((x) => Buffer.from([x])))).toBe(want)
  })

  it('indented lines of text around an indented block stay; indentation past INDENT_MAX ends a block', () => {
    const yaml = (block: string) => `config:\n  name: x\n  data: |\n    ${block}\n  other: y\n`
    const want = yaml(REDACTED)
    expect(redactText(yaml(wrap(b64(fileWith(3)), 76, '\n    ')), FORMS)).toBe(want)
    expect(redactText(yaml(wrap(b64(fileWith(3)), 76, '\r\n\t')), FORMS)).toBe(want)
    // 65 spaces: two values, neither holding the whole encoding, and both stay.
    const apart = wrap(b64(TOKEN), 20, `\n${' '.repeat(65)}`)
    expect(redactText(apart, FORMS)).toBe(apart)
  })

  it('other wrapped base64 stays: a PEM of other bytes, a GitHub file without the token', () => {
    const pem = `-----BEGIN CERTIFICATE-----\n${wrap(randomBytes(600).toString('base64'), 64, '\n')}\n-----END CERTIFICATE-----\n`
    expect(redactBuffer(Buffer.from(pem), FORMS).toString()).toBe(pem)
    const file = github(`GITHUB_TOKEN=${TOKEN.slice(0, -2)}\n${'x'.repeat(100)}`)
    expect(redactBuffer(Buffer.from(file), FORMS).toString()).toBe(file)
    const escaped = JSON.stringify({ text: 'C:\\new\\rows\nand lines\r\nof text' })
    expect(redactBuffer(Buffer.from(escaped), FORMS).toString()).toBe(escaped)
  })

  it('a small GitHub answer, streamed cut at every place and byte by byte, comes out as the whole one', async () => {
    const short = `${TOKEN.slice(0, 8)}${'0123456789'.slice(0, 9)}`
    const forms = searchForms(credentialForms(short), base64Forms(short))
    const body = Buffer.from(`{"content":"${wrap(b64(`T=${short}\n`), 12, '\\n')}\\n"}`)
    const whole = redactBuffer(body, forms).toString()
    expect(whole).toContain(REDACTED)
    const run = async (chunks: Buffer[]) => {
      const out: Buffer[] = []
      const s = Readable.from(chunks, { objectMode: false }).pipe(redactStream(forms))
      s.on('data', (c: Buffer) => out.push(c))
      await finished(s)
      return Buffer.concat(out).toString()
    }
    for (let i = 1; i < body.length; i++) {
      for (const j of [i + 1, i + 3, i + 7]) {
        expect(
          await run([body.subarray(0, i), body.subarray(i, j), body.subarray(j)].filter((c) => c.length)),
        ).toBe(whole)
      }
    }
    expect(await run([...body].map((x) => Buffer.from([x])))).toBe(whole)
  })

  it.each(STYLES)(
    '$name: streamed, cut at every place around the token, gives the same',
    async ({ block, left, right }) => {
      const body = Buffer.from(`${left}${block(fileWith(20))}${right}`)
      const want = `${left}${REDACTED}${right}`
      for (let i = 1; i < body.length; i++)
        expect(await streamed([body.subarray(0, i), body.subarray(i)])).toBe(want)
    },
  )

  it('a character a line under 64 spaces: a stream still holds all of a form cut by a chunk', async () => {
    // Each character takes 66 bytes: a form's beginning is longer than twice RUN_HELD, and is held.
    const body = Buffer.from(`v: ${wrap(b64(`user:${TOKEN}`), 1, `\n${' '.repeat(64)}`)}\nnext: yes\n`)
    const want = `v: ${REDACTED}\nnext: yes\n`
    expect(redactBuffer(body, FORMS).toString()).toBe(want)
    for (const size of [300, 1000, 2500]) {
      const pieces: Buffer[] = []
      for (let i = 0; i < body.length; i += size) pieces.push(body.subarray(i, i + size))
      // Only what the run encodes before the token (`user:`) may be sent, as with a long run.
      const out = await streamed(pieces)
      noForm(out.replace(/ /g, ''))
      expect(out).toMatch(/^v: (d\n *X\n *N\n *l\n *c\n *j\n *)?\[redacted\]\nnext: yes\n$/)
    }
  })

  it('a long GitHub answer streamed in small pieces: the content goes, the chunks after it flow', async () => {
    const body = Buffer.from(github(`${'x'.repeat(600)}\n${fileWith(10)}${'y'.repeat(3000)}`))
    const pieces: Buffer[] = []
    for (let i = 0; i < body.length; i += 97) pieces.push(body.subarray(i, i + 97))
    const out = await streamed(pieces)
    noForm(out)
    // The start of a run longer than what a stream holds is sent (see RUN_HELD); the rest goes.
    expect(out).toMatch(/\[redacted\]\\n","size":1\}$/)
  })
})
