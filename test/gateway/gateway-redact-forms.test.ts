// The encoded forms of the upstream credential are redacted like the credential itself: inside a
// JSON string (as JavaScript, PHP and Go write it), percent-encoded (by encodeURIComponent and
// strictly) and form-encoded (as browsers and as Go write it), with an escape's hex digits in
// upper, lower or mixed case, base64 and base64url at
// each of the three byte alignments (the token alone, `Bearer <token>`, `user:<token>` of Basic
// auth). Table tests on a canary token, whole and streamed (cut at every place), then through a
// real broker whose upstream echoes every form in its headers and in a body that arrives in pieces.
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REDACTED, redactBuffer, redactStream, redactText, searchForms } from '../../src/gateway/redact.js'
import { base64Forms, credentialForms } from '../../src/gateway/secret-forms.js'
import { client, testBroker, type TestBroker } from '../helper.js'
import { envCredential, gatewayProvider, listen } from '../support/gateway.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

// Characters that each encoding changes: a space, + / = ? & ~, a quote, ! and * (which only a
// strict percent-encoding changes), and runs whose base64 holds + and / (so base64url differs).
const CANARY = `gw canary+${randomBytes(9).toString('hex')}/=?&~"!*???>>>`
const b64 = (s: string) => Buffer.from(s).toString('base64')
const b64url = (s: string) => Buffer.from(s).toString('base64url')
const lowerHex = (s: string) => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())
/** Every other escape in lower case: one string written in both cases. */
const mixedHex = (s: string) => {
  let n = 0
  return s.replace(/%[0-9A-F]{2}/g, (m) => (n++ % 2 === 0 ? m.toLowerCase() : m))
}
const json = JSON.stringify(CANARY).slice(1, -1)
/** RFC 3986 strictly (Python's quote): ! and * encoded too. */
const strict = encodeURIComponent(CANARY).replaceAll('!', '%21').replaceAll('*', '%2A')
/** Go's QueryEscape and Python's quote_plus: strictly, with + for a space and ~ kept. */
const goQuery = strict.replaceAll('%20', '+')

/**
 * How an upstream may echo the credential: each form as it would appear in an answer, and how
 * many characters before it are not part of an encoded value (`t=`, `Basic `): those stay. A
 * base64 value goes whole, with what else it encodes (`Bearer `, `user:`) and its padding.
 */
const ECHOES: [string, string, number][] = [
  ['as it is', CANARY, 0],
  ['inside a JSON string', json, 0],
  ['inside a JSON string, PHP (\\/)', json.replaceAll('/', '\\/'), 0],
  ['inside a JSON string, Go (\\u0026)', json.replaceAll('&', '\\u0026').replaceAll('>', '\\u003e'), 0],
  ['inside a JSON string, upper-case \\u003E', json.replaceAll('&', '\\u0026').replaceAll('>', '\\u003E'), 0],
  ['percent-encoded', encodeURIComponent(CANARY), 0],
  ['percent-encoded, lower-case hex', lowerHex(encodeURIComponent(CANARY)), 0],
  ['percent-encoded, hex case mixed', mixedHex(encodeURIComponent(CANARY)), 0],
  ['percent-encoded strictly', strict, 0],
  ['percent-encoded strictly, lower-case hex', lowerHex(strict), 0],
  ['form-encoded (+ for a space)', new URLSearchParams({ t: CANARY }).toString(), 2],
  ['form-encoded, lower-case hex', lowerHex(new URLSearchParams({ t: CANARY }).toString()), 2],
  ['form-encoded by Go', `t=${goQuery}`, 2],
  ['form-encoded by Go, lower-case hex', `t=${lowerHex(goQuery)}`, 2],
  ['form-encoded by Go, hex case mixed', `t=${mixedHex(goQuery)}`, 2],
  ['base64', b64(CANARY), 0],
  ['base64url', b64url(CANARY), 0],
  ['base64 one byte in', b64(`x${CANARY}`), 0],
  ['base64 two bytes in', b64(`xy${CANARY}`), 0],
  ['base64url one byte in', b64url(`x${CANARY}`), 0],
  ['base64url two bytes in', b64url(`xy${CANARY}`), 0],
  ['base64 of the header value', b64(`Bearer ${CANARY}`), 0],
  ['Basic auth, user:token', `Basic ${b64(`user:${CANARY}`)}`, 6],
  ['Basic auth, base64url', b64url(`svc-user:${CANARY}`), 0],
]

const FORMS = credentialForms(CANARY)
const BYTES = searchForms(FORMS, base64Forms(CANARY))

/** No form of the credential is left, and something was replaced. */
function expectRedacted(out: string) {
  for (const f of FORMS) expect(out).not.toContain(f)
  expect(out).toContain(REDACTED)
}

async function streamed(chunks: Buffer[]): Promise<string> {
  const out: Buffer[] = []
  const s = Readable.from(chunks, { objectMode: false }).pipe(redactStream(BYTES))
  s.on('data', (c: Buffer) => out.push(c))
  await finished(s)
  return Buffer.concat(out).toString()
}

describe('encoded forms of the credential', () => {
  it('the canary changes under every encoding, and base64url differs from base64', () => {
    const forms = new Set(ECHOES.map(([, echo]) => echo))
    expect(forms.size).toBe(ECHOES.length)
    expect(b64(CANARY)).toMatch(/[+/]/)
    expect(FORMS).toEqual([...new Set(FORMS)])
    expect(FORMS.map((f) => f.length)).toEqual(FORMS.map((f) => f.length).sort((a, b) => b - a))
  })

  it.each(ECHOES)('%s: redacted in a whole body and in a header', (_what, echo, before) => {
    const out = redactBuffer(Buffer.from(`<${echo}>`), BYTES).toString()
    expectRedacted(out)
    // What stays: only what precedes the credential and is not part of its encoded value.
    expect(out).toBe(`<${echo.slice(0, before)}${REDACTED}>`)
    expect(redactText(`<${echo}>`, BYTES)).toBe(out)
  })

  it.each(ECHOES)('%s: a streamed body cut anywhere comes out as the whole one', async (_what, echo) => {
    const body = Buffer.from(`{"a":"${echo}","b":"${echo}"}`)
    const whole = redactBuffer(body, BYTES).toString()
    expectRedacted(whole)
    for (let i = 1; i < body.length; i++)
      expect(await streamed([body.subarray(0, i), body.subarray(i)])).toBe(whole)
    expect(await streamed([...body].map((x) => Buffer.from([x])))).toBe(whole)
  })

  it('what is not the credential stays: other base64, other encoded text, a near miss', () => {
    const text = `${b64('another value entirely')} ${encodeURIComponent('a b+c')} ${CANARY.slice(0, -1)}!`
    expect(redactBuffer(Buffer.from(text), BYTES).toString()).toBe(text)
  })

  it('a short credential is looked for only as it is; encoded forms start at 8 characters', () => {
    expect(credentialForms('ab_1')).toEqual(['ab_1'])
    expect(credentialForms('')).toEqual([])
    const forms = credentialForms('tok_0123456789')
    expect(forms).toContain('tok_0123456789')
    expect(forms).toContain(b64('tok_0123456789').replace(/=+$/, '').slice(0, -1))
    for (const f of forms) expect(f.length).toBeGreaterThanOrEqual(8)
  })

  it('a credential with a lone surrogate has its forms (as UTF-8 writes it), not an error', () => {
    const forms = credentialForms('tok_\ud800_0123456789')
    expect(forms).toContain('tok_\ud800_0123456789')
    expect(forms).toContain('tok_%EF%BF%BD_0123456789')
  })
})

let upstream: Upstream
let tb: TestBroker
let base: string

beforeAll(async () => {
  upstream = await startUpstream((s, res) => {
    const echoes = ECHOES.map(([, echo]) => echo)
    // Each form in a header of its own, and in a body that starts past the size sent whole, so it
    // streams, then arrives a few bytes at a time: every form crosses a chunk boundary.
    const headers: Record<string, string> = { 'content-type': 'text/plain' }
    echoes.forEach((e, i) => (headers[`x-echo-${i}`] = e))
    res.writeHead(200, headers)
    if (s.url.endsWith('/small')) {
      res.end(echoes.join('\n'))
      return
    }
    const rest = Buffer.from(`\n${echoes.join('\n')}\nend`)
    res.write('.'.repeat(70 * 1024))
    let at = 0
    const next = () => {
      if (at >= rest.length) return void res.end()
      res.write(rest.subarray(at, (at += 5)))
      setImmediate(next)
    }
    next()
  })
  tb = await testBroker({
    yaml: {
      providers: gatewayProvider({
        name: 'forms-api',
        upstream: upstream.url,
        credential: envCredential('GW_FORMS_TOKEN', CANARY),
        settings: ['timeout: 5s'],
        classes: ['read: { http: ["GET /**"] }'],
      }),
    },
  })
  base = `http://127.0.0.1:${await listen(tb)}/gw/forms-api`
}, 30_000)

afterAll(async () => {
  await tb?.close()
  await upstream?.close()
})

describe('gateway: an upstream that echoes the credential encoded', () => {
  const get = async (path: string) => {
    const r = await client(tb.app, tb.keys).issue('build-bot', {
      provider: 'forms-api',
      operation_class: 'read',
    })
    const { grant } = r as unknown as { grant: { token: string } }
    const res = await request(`${base}${path}`, { headers: { authorization: `Bearer ${grant.token}` } })
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
  }

  it.each(['/small', '/streamed'])('%s: no form reaches the agent, in headers or body', async (path) => {
    const before = upstream.seen.length
    const r = await get(path)
    expect(r.status).toBe(200)
    // The upstream did get the credential itself.
    expect(upstream.seen[before]?.headers['authorization']).toBe(`Bearer ${CANARY}`)
    // Each echo, in a header and on a line of its own, keeps only what is not its encoded value.
    const want = ECHOES.map(([, echo, before]) => `${echo.slice(0, before)}${REDACTED}`)
    for (let i = 0; i < ECHOES.length; i++) expect(r.headers[`x-echo-${i}`]).toBe(want[i])
    const lines = r.text.split('\n').filter((l) => !l.startsWith('.'))
    if (path === '/streamed') expect(lines.pop()).toBe('end')
    expect(lines).toHaveLength(ECHOES.length)
    expect(lines).toEqual(want)
    expectRedacted(r.text)
    // Nothing the upstream echoed is in the audit trail either.
    for (const f of FORMS) expect(tb.audit.join('\n')).not.toContain(f)
  })
})
