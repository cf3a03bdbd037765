// Documents and URLs that the gateway's readers (graphql-js, URLSearchParams) read one way and
// other GraphQL servers another: what the upstream runs must be what was checked, so these are
// refused rather than read the gateway's way.
import { describe, expect, it } from 'vitest'
import type { GatewayConfig } from '../../providers/gateway/config.js'
import { checkRequest } from '../../src/gateway/check.js'
import { containPath } from '../../src/gateway/path.js'
import { railwayGatewayConfig } from '../support/fake-railway.js'

const cfg: GatewayConfig = railwayGatewayConfig()
const target = { provider: 'railway', environment: 'staging', operationClass: 'write' }

const post = (query: string, contentType = 'application/json') =>
  checkRequest(cfg, target, {
    method: 'POST',
    contentType,
    body: Buffer.from(JSON.stringify({ query })),
    contained: containPath('/gw/railway', '/gw/railway') as never,
  })
const get = (search: string) =>
  checkRequest(cfg, target, {
    method: 'GET',
    contentType: '',
    body: null,
    contained: containPath(`/gw/railway?${search}`, '/gw/railway') as never,
  })

const REDEPLOY = 'serviceInstanceRedeploy(serviceId: "svc-staging-1", environmentId: "env-staging-1")'

describe('GraphQL read as other servers read it', () => {
  // graphql-java (Spring for GraphQL, Netflix DGS) ends a # comment at U+2028 and U+2029; graphql-js
  // reads on to the next \n or \r. A field after one is run there but never checked here.
  it.each([
    ['U+2028', '\u2028'],
    ['U+2029', '\u2029'],
    ['U+0085', '\u0085'],
  ])('refuses a document holding %s, which ends a comment elsewhere', (_name, c) => {
    const r = post(`mutation { ${REDEPLOY} # ${c} volumeDelete(volumeId: "vol-prod-1")\n }`)
    expect(r).toMatchObject({ ok: false, status: 400, refused: 'request' })
    if (!r.ok) expect(r.message).toMatch(/line break/)
  })

  // body-parser (express.json(), as Apollo Server's express setup uses) takes any utf-* charset and
  // decodes with iconv-lite: in UTF-7 `+AFw-n` is `\n`, a JSON escape for a line break there and
  // plain text here, so the # comment that hides volumeDelete here ends before it there.
  it.each(['utf-7', 'UTF-16LE', 'latin1'])('refuses a JSON body in charset %s', (charset) => {
    const query = `mutation { ${REDEPLOY} # +AFw-n volumeDelete(volumeId: "vol-prod-1")\n }`
    const r = post(query, `application/json; charset=${charset}`)
    expect(r).toMatchObject({ ok: false, status: 400, refused: 'request' })
    if (!r.ok) expect(r.message).toMatch(/UTF-8/)
  })

  it.each(['utf-8', '"UTF-8"', 'utf8'])('passes a JSON body in charset %s', (charset) => {
    expect(post('{ me { id } }', `application/json; charset=${charset}`)).toMatchObject({ ok: true })
  })

  it('still passes the same document without it', () => {
    expect(post(`mutation { ${REDEPLOY} # a comment\n }`)).toMatchObject({ ok: true })
  })

  // Rack 2 (Rails, graphql-ruby) splits a query string at ';' as well as '&': a second parameter
  // hidden in a comment here would be read there, with a prod environment in its variables.
  it('refuses a raw ; in a GET URL, which some servers split parameters at', () => {
    const query = encodeURIComponent('query($e: String) { volumes(environmentId: $e) { id } } #')
    const r = get(`query=${query};variables=${encodeURIComponent('{"e":"env-prod-1"}')}`)
    expect(r).toMatchObject({ ok: false, status: 400, refused: 'request' })
    if (!r.ok) expect(r.message).toMatch(/%3B/)
  })

  // Classic ASP.NET (HttpUtility.UrlDecode) reads %u000a as a line break, ending the # comment
  // that holds a prod read; URLSearchParams keeps the text as it is.
  it('refuses a % that is not two hex digits in a GET URL', () => {
    const hidden =
      encodeURIComponent('{ me { id } # ') +
      '%u000a' +
      encodeURIComponent(' volumes(environmentId: "env-prod-1") { id }\n}')
    expect(get(`query=${hidden}`)).toMatchObject({ ok: false, status: 400, refused: 'request' })
    expect(get(`query=${encodeURIComponent('{ me { id } } #')}%zz`)).toMatchObject({ ok: false, status: 400 })
  })

  it('passes ; written as %3B', () => {
    expect(get(`query=${encodeURIComponent('{ me { id } } # a;b')}`)).toMatchObject({ ok: true })
  })
})

describe('arguments outside selections', () => {
  // A directive a schema defines may take a scoped argument wherever it stands.
  it.each([
    ['an operation', 'query Q @scope(environmentId: "env-prod-1") { me { id } }'],
    [
      'a fragment definition',
      'query { ...F } fragment F on Query @scope(environmentId: "env-prod-1") { me { id } }',
    ],
    ['a variable definition', 'query($x: Int @scope(environmentId: "env-prod-1")) { me { id } }'],
  ])('are checked on a directive of %s', (_where, query) => {
    expect(post(query)).toMatchObject({ ok: false, status: 403, refused: 'argument environmentId' })
  })
})
