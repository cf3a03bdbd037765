// The credential written in UTF-16 by an upstream that names no charset and sends no byte order
// mark (`application/octet-stream`, or no Content-Type): found as its UTF-16LE and UTF-16BE bytes
// whatever the answer declares, at either byte alignment, and replaced with the mark in the same
// byte order, so the rest of the answer still reads as UTF-16. Whole, streamed cut at every place,
// and through a real broker whose upstream echoes a canary in UTF-16.
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REDACTED, redactBuffer, redactStream, searchForms } from '../../src/gateway/redact.js'
import { base64Forms, credentialForms } from '../../src/gateway/secret-forms.js'
import { redactor } from '../../src/mcp/redact.js'
import { client, testBroker, type TestBroker } from '../helper.js'
import { envCredential, gatewayProvider, listen } from '../support/gateway.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

const TOKEN = `ghp_${randomBytes(12).toString('hex')}`
const forms = (t: string) => searchForms(credentialForms(t), base64Forms(t), [t])
const FORMS = forms(TOKEN)

const le = (s: string) => Buffer.from(s, 'utf16le')
const be = (s: string) => Buffer.from(s, 'utf16le').swap16()
const ORDERS = [
  { name: 'UTF-16LE', enc: le },
  { name: 'UTF-16BE', enc: be },
]
/** What may come before the text: nothing, or a stray byte that puts it at an odd offset. */
const LEADS = [Buffer.alloc(0), Buffer.from([0x07])]
const TEXTS: [string, string][] = [
  ['{"token":"', '","ok":true}'],
  ['Authorization: Bearer ', '\r\n'],
  ['', ''],
]

async function streamed(chunks: Buffer[], f = FORMS): Promise<Buffer> {
  const out: Buffer[] = []
  const s = Readable.from(chunks, { objectMode: false }).pipe(redactStream(f))
  s.on('data', (c: Buffer) => out.push(c))
  await finished(s)
  return Buffer.concat(out)
}

/** None of the token's encodings is left in `out`. */
function expectNoToken(out: Buffer, token = TOKEN) {
  for (const b of [Buffer.from(token), le(token), be(token)]) expect(out.includes(b)).toBe(false)
}

describe('gateway: the credential in UTF-16 bytes, no charset named', () => {
  it.each(ORDERS)('$name: replaced by the mark in the same byte order, at either alignment', ({ enc }) => {
    for (const lead of LEADS) {
      for (const [left, right] of TEXTS) {
        const body = Buffer.concat([lead, enc(`${left}${TOKEN}${right}${TOKEN}`)])
        const want = Buffer.concat([lead, enc(`${left}${REDACTED}${right}${REDACTED}`)])
        expect(redactBuffer(body, FORMS)).toEqual(want)
      }
    }
  })

  it.each(ORDERS)('$name: streamed, cut at every place and byte by byte, gives the same', async ({ enc }) => {
    for (const lead of LEADS) {
      const body = Buffer.concat([lead, enc(`{"token":"${TOKEN}","again":"${TOKEN}"}`)])
      const want = Buffer.concat([lead, enc(`{"token":"${REDACTED}","again":"${REDACTED}"}`)])
      for (let i = 1; i < body.length; i++)
        expect(await streamed([body.subarray(0, i), body.subarray(i)])).toEqual(want)
      expect(await streamed([...body].map((x) => Buffer.from([x])))).toEqual(want)
    }
  })

  it('a credential beyond ASCII: its UTF-16 code units, both byte orders', async () => {
    const token = `tök_${randomBytes(8).toString('hex')}_€`
    const f = forms(token)
    for (const enc of [le, be]) {
      const body = enc(`x ${token} y`)
      const out = redactBuffer(body, f)
      expect(out).toEqual(enc(`x ${REDACTED} y`))
      expectNoToken(out, token)
      expect(await streamed([body.subarray(0, 9), body.subarray(9)], f)).toEqual(out)
    }
  })

  it('an answer without the credential stays as it is, UTF-16 or not', () => {
    for (const body of [le(`{"token":"${TOKEN.slice(0, -1)}"}`), be(TOKEN.slice(1)), randomBytes(4096)])
      expect(redactBuffer(body, FORMS)).toBe(body)
  })
})

let upstream: Upstream
let tb: TestBroker
let base: string

beforeAll(async () => {
  upstream = await startUpstream((s, res) => {
    const type = s.url.includes('/untyped') ? {} : { 'content-type': 'application/octet-stream' }
    const enc = s.url.includes('/be') ? be : le
    res.writeHead(200, type)
    const echo = enc(`{"echo":"${TOKEN}","n":1}\r\n`)
    if (s.url.includes('/small')) return void res.end(echo)
    // Past the size sent whole, so it streams, then a few bytes at a time: the token is cut.
    res.write(enc('.'.repeat(40 * 1024)))
    let at = 0
    const next = () => {
      if (at >= echo.length) return void res.end()
      res.write(echo.subarray(at, (at += 5)))
      setImmediate(next)
    }
    next()
  })
  tb = await testBroker({
    yaml: {
      providers: gatewayProvider({
        name: 'utf16-api',
        upstream: upstream.url,
        credential: envCredential('GW_UTF16_TOKEN', TOKEN),
        settings: ['timeout: 5s'],
        classes: ['read: { http: ["GET /**"] }'],
      }),
    },
  })
  base = `http://127.0.0.1:${await listen(tb)}/gw/utf16-api`
}, 30_000)

afterAll(async () => {
  await tb?.close()
  await upstream?.close()
})

describe('gateway: an upstream that echoes the credential in UTF-16, naming no charset', () => {
  it.each(['/small', '/streamed', '/be/small', '/be/streamed', '/untyped/small', '/untyped/streamed'])(
    '%s: the agent gets the mark, never the credential in any encoding',
    async (path) => {
      const r = await client(tb.app, tb.keys).issue('build-bot', {
        provider: 'utf16-api',
        operation_class: 'read',
      })
      const { grant } = r as unknown as { grant: { token: string } }
      const res = await request(`${base}${path}`, { headers: { authorization: `Bearer ${grant.token}` } })
      expect(res.statusCode).toBe(200)
      const body = Buffer.from(await res.body.arrayBuffer())
      const enc = path.startsWith('/be') ? be : le
      expect(body.subarray(-enc(`{"echo":"${REDACTED}","n":1}\r\n`).length)).toEqual(
        enc(`{"echo":"${REDACTED}","n":1}\r\n`),
      )
      expectNoToken(body)
      expect(body.includes(Buffer.from(TOKEN, 'base64'))).toBe(false)
      for (const f of credentialForms(TOKEN)) expect(body.includes(Buffer.from(f))).toBe(false)
    },
  )
})

describe('MCP: command output in UTF-16', () => {
  it('a command that prints the credential as UTF-16LE shows the mark instead', () => {
    const r = redactor([TOKEN])
    // The output is read as UTF-8: UTF-16LE of ASCII comes through as its characters and NULs.
    const out = r.redact(le(`token: ${TOKEN}\r\n`).toString('utf8'))
    expect(out).toBe(le(`token: ${REDACTED}\r\n`).toString('utf8'))
    const head = r.redactHead(le(`x ${TOKEN}`).toString('utf8').slice(0, 30), 100, true)
    expect(head).toBe(le('x ').toString('utf8'))
  })
})
