// What the MCP tools may show of a command's output: each credential of the grant, in every form a
// program is likely to print it, becomes [redacted]; the rest of the output stays as it was.
import { describe, expect, it } from 'vitest'
import type { Grant } from '../../src/client/sessions.js'
import { redactor, secretsOf } from '../../src/mcp/redact.js'

const TOKEN = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJidWlsZC1ib3QifQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU'
const PASSWORD = 'p@ss/w+rd=Zq9 x!~'
const pgGrant: Grant = {
  token: TOKEN,
  token_type: 'Bearer',
  expires_at: '2026-01-01T00:00:00Z',
  credentials: {
    host: 'db.internal',
    port: 5432,
    database: 'app',
    username: 'airlock_ses_1',
    password: PASSWORD,
    url: `postgres://airlock_ses_1:${encodeURIComponent(PASSWORD)}@db.internal:5432/app`,
  },
}
const b64 = (s: string) => Buffer.from(s).toString('base64')

describe('redaction', () => {
  const r = redactor(secretsOf(pgGrant))

  it('replaces the secret as is, URL-encoded (both ways), and the URL holding it whole', () => {
    const out = r.redact(
      [
        `PGPASSWORD=${PASSWORD}`,
        `enc ${encodeURIComponent(PASSWORD)} form ${new URLSearchParams({ p: PASSWORD }).toString()}`,
        `DATABASE_URL=${pgGrant.credentials['url'] as string}`,
        `Authorization: Bearer ${TOKEN}`,
      ].join('\n'),
    )
    expect(out).toBe(
      [
        'PGPASSWORD=[redacted]',
        'enc [redacted] form p=[redacted]',
        'DATABASE_URL=[redacted]',
        'Authorization: Bearer [redacted]',
      ].join('\n'),
    )
  })

  it('replaces the secret inside a JSON string (PHP and Go too) and URL-encoded in any hex case', () => {
    const php = JSON.stringify({ password: PASSWORD }).replaceAll('/', '\\/')
    const pct = encodeURIComponent(PASSWORD) // p%40ss%2Fw%2Brd%3DZq9%20x!~
    const lower = pct.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())
    const mixed = pct.replace('%2F', '%2f').replace('%3D', '%3d')
    expect(r.redact([php, lower, mixed].join('\n'))).toBe(
      ['{"password":"[redacted]"}', '[redacted]', '[redacted]'].join('\n'),
    )
    // What JSON changes: a quote and a backslash escaped; Go writes \u003c for <, others \u003C.
    const secret = 'tok"quoted\\0123<&>'
    const s = redactor([secret])
    const json = JSON.stringify(secret).slice(1, -1)
    const go = (hex: (h: string) => string) =>
      json.replace(/[<>&]/g, (c) => `\\u00${hex(c.charCodeAt(0).toString(16))}`)
    const out = s.redact(`a=${json} b=${go((h) => h)} c=${go((h) => h.toUpperCase())}`)
    expect(out).toBe('a=[redacted] b=[redacted] c=[redacted]')
  })

  it('replaces base64 at every offset, base64url, and base64 wrapped over lines', () => {
    for (const prefix of ['', 'u', 'us', 'user:']) {
      const encoded = b64(prefix + TOKEN)
      expect(r.redact(`Basic ${encoded} end`)).toBe('Basic [redacted] end')
      expect(r.redact(Buffer.from(prefix + PASSWORD).toString('base64url'))).toBe('[redacted]')
    }
    // The run ends at its padding; a name before `=` is not part of it.
    for (const prefix of ['', 'u', 'us']) {
      const encoded = b64(prefix + PASSWORD)
      expect(r.redact(`KEY=${encoded}.next`)).toBe('KEY=[redacted].next')
      if (encoded.endsWith('=')) expect(r.redact(`${encoded}next`)).toBe('[redacted]next')
    }
    const wrapped = b64(TOKEN.repeat(2)).replace(/(.{76})/g, '$1\n')
    expect(wrapped.split('\n').length).toBeGreaterThan(2)
    expect(r.redact(`before\n${wrapped}\nafter`)).toBe('before\n[redacted]\nafter')
    // As a program prints it after a label: the first line starts mid-line.
    expect(r.redact(`token: ${wrapped}\nafter`)).toBe('token: [redacted]\nafter')
    // Indented, as YAML writes a `|` block.
    expect(r.redact(`data: |\n  ${wrapped.replaceAll('\n', '\n  ')}\nafter: x`)).toBe(
      'data: |\n  [redacted]\nafter: x',
    )
  })

  it('replaces base64 wrapped with \\n escapes, as `gh api` prints a file of GitHub contents', () => {
    for (const before of ['', 'x', 'PGPASSWORD=', 'a'.repeat(40)]) {
      const content = `${b64(`${before}${PASSWORD}\n${TOKEN}\n`)
        .match(/.{1,60}/g)!
        .join('\n')}\n`
      const json = JSON.stringify({ name: '.env', content, encoding: 'base64' }, null, 2)
      expect(r.redact(json)).toBe(
        JSON.stringify({ name: '.env', content: '[redacted]\n', encoding: 'base64' }, null, 2),
      )
    }
  })

  it('leaves what describes the grant, and unrelated lines, readable', () => {
    const text = 'PGHOST=db.internal\nPGUSER=airlock_ses_1\nPGPORT=5432\n' + 'A'.repeat(80) + '\nshort\n'
    expect(r.redact(text)).toBe(text)
  })

  it("a gateway grant's URL is not a secret; its token is", () => {
    const gw = redactor(
      secretsOf({ ...pgGrant, credentials: { url: 'https://airlock.example/gw/railway', token: TOKEN } }),
    )
    expect(gw.redact(`POST https://airlock.example/gw/railway/graphql with ${TOKEN}`)).toBe(
      'POST https://airlock.example/gw/railway/graphql with [redacted]',
    )
  })

  it("a GitHub grant's token is redacted; its server, API URL and expiry stay readable", () => {
    const ghToken = 'ghs_16C7e42F292c6912E7710c838347Ae178B4a'
    const gh = redactor(
      secretsOf({
        ...pgGrant,
        credentials: {
          token: ghToken,
          expires_at: '2026-01-01T01:00:00.000Z',
          repositories: ['acme/app'],
          permissions: { contents: 'write' },
          api_url: 'https://api.github.com',
          server_url: 'https://github.com',
        },
      }),
    )
    const text = 'To https://github.com/acme/app.git (GET https://api.github.com/repos/acme/app)\n'
    expect(gh.redact(`${text}expires 2026-01-01T01:00:00.000Z\ntoken ${ghToken}`)).toBe(
      `${text}expires 2026-01-01T01:00:00.000Z\ntoken [redacted]`,
    )
  })

  it('output cut inside a secret shows none of it; the result keeps the limit', () => {
    const text = `${'x'.repeat(90)}${TOKEN}`
    const cutAt = 90 + 20
    expect(r.redactHead(text.slice(0, cutAt), 100, true)).toBe('x'.repeat(90))
    expect(r.redactHead(`${'y'.repeat(200)}`, 100, true)).toBe('y'.repeat(100))
    expect(r.redactHead(`a ${TOKEN} b`, 100, false)).toBe('a [redacted] b')
    // Cut inside an encoded form written with lower-case hex digits.
    const lower = encodeURIComponent(PASSWORD).toLowerCase().replace('zq9', 'Zq9')
    expect(r.redactHead(`x ${lower.slice(0, 12)}`, 100, true)).toBe('x ')
  })
})
