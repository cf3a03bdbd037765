// An agent reads a file through the gateway from a GitHub-like contents API, and the file holds the
// upstream token: GitHub answers the file as base64 with a `\n` escape every 60 characters, so no
// line holds a whole form of the token. Through a real broker, whole and streamed (a file past the
// size sent whole, arriving in small pieces), decoding the content the agent gets shows no token.
import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REDACTED } from '../../src/gateway/redact.js'
import { base64Forms } from '../../src/gateway/secret-forms.js'
import { client, testBroker, type TestBroker } from '../helper.js'
import { envCredential, gatewayProvider, listen } from '../support/gateway.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

const CANARY = `ghp_canary${randomBytes(15).toString('hex')}`

/** A file as it is committed by mistake: the token on a line among others. */
const file = (padding: number) =>
  `# deploy settings\n${'# '.repeat(padding)}\nREGION=eu-west-1\nGITHUB_TOKEN=${CANARY}\nLOG_LEVEL=debug\n`

/** GET /repos/{owner}/{repo}/contents/{path} as GitHub answers it. */
const contents = (text: string) => {
  const b64 = Buffer.from(text).toString('base64')
  return JSON.stringify({
    name: '.env',
    path: '.env',
    sha: randomBytes(20).toString('hex'),
    size: text.length,
    type: 'file',
    encoding: 'base64',
    content: `${b64.match(/.{1,60}/g)!.join('\n')}\n`,
  })
}

let upstream: Upstream
let tb: TestBroker
let base: string

beforeAll(async () => {
  upstream = await startUpstream((s, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
    if (s.url.endsWith('/small.env')) return void res.end(contents(file(3)))
    // Past the size sent whole, in 7-byte pieces: breaks and the token cross chunk boundaries.
    const body = Buffer.from(contents(file(40_000)))
    let at = 0
    const next = () => {
      if (at >= body.length) return void res.end()
      res.write(body.subarray(at, (at += at < 100_000 ? 4096 : 7)))
      setImmediate(next)
    }
    next()
  })
  tb = await testBroker({
    yaml: {
      providers: gatewayProvider({
        name: 'contents-api',
        upstream: upstream.url,
        credential: envCredential('GW_CONTENTS_TOKEN', CANARY),
        settings: ['timeout: 10s'],
        classes: ['read: { http: ["GET /**"] }'],
      }),
    },
  })
  base = `http://127.0.0.1:${await listen(tb)}/gw/contents-api`
}, 30_000)

afterAll(async () => {
  await tb?.close()
  await upstream?.close()
})

describe('gateway: a file holding the upstream token, read from a GitHub-like contents API', () => {
  it.each(['small.env', 'large.env'])('%s: the decoded content holds no token', async (name) => {
    const r = await client(tb.app, tb.keys).issue('build-bot', {
      provider: 'contents-api',
      operation_class: 'read',
    })
    const { grant } = r as unknown as { grant: { token: string } }
    const res = await request(`${base}/repos/acme/app/contents/${name}`, {
      headers: { authorization: `Bearer ${grant.token}` },
    })
    expect(res.statusCode).toBe(200)
    const text = await res.body.text()
    expect(upstream.seen.at(-1)?.headers['authorization']).toBe(`Bearer ${CANARY}`)
    const answer = JSON.parse(text) as { content: string; name: string }
    expect(answer.name).toBe('.env')
    expect(answer.content).toContain(REDACTED)
    const decoded = Buffer.from(answer.content.replace(REDACTED, ''), 'base64').toString('latin1')
    expect(decoded).not.toContain(CANARY)
    for (const f of base64Forms(CANARY)) expect(text.replaceAll('\\n', '')).not.toContain(f)
    if (name === 'small.env') expect(answer.content).toBe(`${REDACTED}\n`)
  })
})
