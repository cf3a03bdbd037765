// GraphQL classification as a table: documents a staging agent may send, ones it may not, and
// the ways a destroying call could be smuggled past a text match (aliases, fragments, a second
// operation, a batch, variables, directives, input objects).
import { describe, expect, it } from 'vitest'
import { validateGateway, type GatewayConfig } from '../../providers/gateway/config.js'
import { checkRequest } from '../../src/gateway/check.js'
import { containPath } from '../../src/gateway/path.js'
import { railwayGatewayConfig } from '../support/fake-railway.js'

const cfg: GatewayConfig = railwayGatewayConfig()

type Expect = 'ok' | { status: 400 | 403; refused?: string; message?: RegExp }

const check = (body: unknown, opts: { cls?: string; env?: string; method?: string; query?: string } = {}) =>
  checkRequest(
    cfg,
    { provider: 'railway', environment: opts.env ?? 'staging', operationClass: opts.cls ?? 'write' },
    {
      method: opts.method ?? 'POST',
      contentType: 'application/json',
      body: body === undefined ? null : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
      contained: containPath(`/gw/railway${opts.query ?? ''}`, '/gw/railway') as never,
    },
  )

const q = (query: string, variables?: Record<string, unknown>, operationName?: string) => ({
  query,
  ...(variables && { variables }),
  ...(operationName && { operationName }),
})
const denied = (refused: string, message?: RegExp): Expect => ({
  status: 403,
  refused,
  ...(message && { message }),
})
const invalid = (message?: RegExp): Expect => ({ status: 400, ...(message && { message }) })

const TABLE: [string, unknown, Expect, { cls?: string; env?: string; method?: string; query?: string }?][] = [
  // allowed
  ['a query', q('{ me { id } }'), 'ok'],
  ['a named query', q('query Me { me { email } }'), 'ok'],
  ['a scoped query in staging', q('{ volumes(environmentId: "env-staging-1") { id } }'), 'ok'],
  [
    'a scoped query through a variable',
    q('query($e: String!) { volumes(environmentId: $e) { id } }', { e: 'env-staging-1' }),
    'ok',
  ],
  [
    'variableUpsert in staging',
    q(
      'mutation { variableUpsert(input: {projectId: "p", environmentId: "env-staging-1", name: "A", value: "1"}) }',
    ),
    'ok',
  ],
  [
    'variableUpsert with its input in a variable',
    q('mutation($i: VariableUpsertInput!) { variableUpsert(input: $i) }', {
      i: { projectId: 'p', environmentId: 'env-staging-1', name: 'A', value: '1' },
    }),
    'ok',
  ],
  [
    'serviceInstanceRedeploy in staging',
    q('mutation { serviceInstanceRedeploy(serviceId: "svc-staging-1", environmentId: "env-staging-1") }'),
    'ok',
  ],
  ['a *Update mutation', q('mutation { serviceInstanceUpdate(serviceId: "svc-staging-1") }'), 'ok'],
  ['introspection where queries allow *', q('{ __schema { types { name } } __typename }'), 'ok'],
  ['an aliased query', q('{ who: me { id } }'), 'ok'],
  ['a query fragment', q('query { ...F } fragment F on Query { me { id } }'), 'ok'],
  [
    'two named operations, one chosen, both allowed',
    q('query A { me { id } } query B { project(id: "p") { id } }', undefined, 'A'),
    'ok',
  ],
  [
    'a batch of allowed calls',
    [
      q('{ me { id } }'),
      q(
        'mutation { variableUpsert(input: {projectId: "p", environmentId: "env-staging-1", name: "A", value: "1"}) }',
      ),
    ],
    'ok',
  ],
  [
    'a query over GET',
    undefined,
    'ok',
    { method: 'GET', query: `?query=${encodeURIComponent('{ me { id } }')}` },
  ],
  [
    'a default variable value in scope',
    q('query($e: String = "env-staging-1") { volumes(environmentId: $e) { id } }'),
    'ok',
  ],
  [
    'an unset optional scoped variable touches nothing',
    q('query($e: String) { volumes(environmentId: $e) { id } }'),
    'ok',
  ],
  [
    'a prod read session reading prod',
    q('{ volumes(environmentId: "env-prod-1") { id } }'),
    'ok',
    { cls: 'read', env: 'prod' },
  ],
  [
    'destructive may delete the staging volume',
    q('mutation { volumeDelete(volumeId: "vol-staging-1") }'),
    'ok',
    { cls: 'destructive' },
  ],

  // refused by class
  [
    'volumeDelete of the prod volume',
    q('mutation { volumeDelete(volumeId: "vol-prod-1") }'),
    denied(
      'volumeDelete',
      /mutation volumeDelete is not allowed for write on railway \(it needs destructive\)/,
    ),
  ],
  [
    'volumeDelete of the staging volume',
    q('mutation { volumeDelete(volumeId: "vol-staging-1") }'),
    denied('volumeDelete'),
  ],
  [
    'serviceDelete',
    q('mutation { serviceDelete(id: "svc-staging-1", environmentId: "env-staging-1") }'),
    denied('serviceDelete'),
  ],
  [
    'environmentDelete',
    q('mutation { environmentDelete(id: "env-staging-1") }'),
    denied('environmentDelete'),
  ],
  ['projectDelete', q('mutation { projectDelete(id: "p") }'), denied('projectDelete')],
  [
    'volumeInstanceBackupDelete',
    q('mutation { volumeInstanceBackupDelete(volumeInstanceId: "v", volumeInstanceBackupId: "b") }'),
    denied('volumeInstanceBackupDelete'),
  ],
  [
    'any mutation for read',
    q(
      'mutation { variableUpsert(input: {projectId: "p", environmentId: "env-staging-1", name: "A", value: "1"}) }',
    ),
    denied('variableUpsert'),
    { cls: 'read' },
  ],
  [
    'a subscription nobody lists',
    q('subscription { deploymentLogs(deploymentId: "d") { message } }'),
    denied('deploymentLogs', /no class allows it/),
  ],
  [
    'a mutation the write list does not name',
    q('mutation { variableCollectionUpsert(input: {environmentId: "env-staging-1", replace: true}) }'),
    denied('variableCollectionUpsert'),
  ],

  // smuggled
  [
    'volumeDelete behind an alias',
    q('mutation { redeploy: volumeDelete(volumeId: "vol-prod-1") }'),
    denied('volumeDelete'),
  ],
  [
    'volumeDelete in a fragment',
    q('mutation { ...D } fragment D on Mutation { volumeDelete(volumeId: "vol-prod-1") }'),
    denied('volumeDelete'),
  ],
  [
    'volumeDelete in a nested fragment',
    q(
      'mutation { ...A } fragment A on Mutation { ...B } fragment B on Mutation { volumeDelete(volumeId: "vol-prod-1") }',
    ),
    denied('volumeDelete'),
  ],
  [
    'volumeDelete in an inline fragment',
    q('mutation { ... on Mutation { volumeDelete(volumeId: "vol-prod-1") } }'),
    denied('volumeDelete'),
  ],
  [
    'volumeDelete under @skip(if: true)',
    q(
      'mutation { volumeDelete(volumeId: "vol-prod-1") @skip(if: true) variableUpsert(input: {projectId: "p", environmentId: "env-staging-1", name: "A", value: "1"}) }',
    ),
    denied('volumeDelete'),
  ],
  [
    'volumeDelete under @include(if: $no)',
    q('mutation($no: Boolean = false) { volumeDelete(volumeId: "vol-staging-1") @include(if: $no) }'),
    denied('volumeDelete'),
  ],
  [
    'volumeDelete in a second operation while the first is named',
    q(
      'mutation Ok { serviceInstanceRedeploy(serviceId: "svc-staging-1", environmentId: "env-staging-1") } mutation Bad { volumeDelete(volumeId: "vol-prod-1") }',
      undefined,
      'Ok',
    ),
    denied('volumeDelete'),
  ],
  [
    'volumeDelete in a batch',
    [q('{ me { id } }'), q('mutation { volumeDelete(volumeId: "vol-prod-1") }')],
    denied('volumeDelete'),
  ],
  [
    'the prod volume id in a variable',
    q('query($v: String!) { volumes(environmentId: $v) { id } }', { v: 'env-prod-1' }),
    denied('argument environmentId', /environmentId env-prod-1 is outside staging/),
  ],
  [
    'prod environmentId inside an input object',
    q(
      'mutation { variableUpsert(input: {projectId: "p", environmentId: "env-prod-1", name: "A", value: "1"}) }',
    ),
    denied('argument environmentId'),
  ],
  [
    'prod environmentId inside an input variable',
    q('mutation($i: VariableUpsertInput!) { variableUpsert(input: $i) }', {
      i: { projectId: 'p', environmentId: 'env-prod-1', name: 'A', value: '1' },
    }),
    denied('argument environmentId'),
  ],
  [
    'prod serviceId in a redeploy',
    q('mutation { serviceInstanceRedeploy(serviceId: "svc-prod-1", environmentId: "env-staging-1") }'),
    denied('argument serviceId'),
  ],
  [
    'a prod id in a default value',
    q('query($e: String = "env-prod-1") { volumes(environmentId: $e) { id } }'),
    denied('argument environmentId'),
  ],
  [
    'a list holding a prod id',
    q('{ volumes(environmentId: ["env-staging-1", "env-prod-1"]) { id } }'),
    denied('argument environmentId'),
  ],
  [
    'null for a scoped argument',
    q('{ volumes(environmentId: null) { id } }'),
    denied('argument environmentId'),
  ],
  [
    'a prod id in a nested field argument',
    q(
      '{ me { id project: __typename } project(id: "p") { __typename } volumes(environmentId: "env-staging-1") { id } }',
    ),
    'ok',
  ],
  [
    'a prod id in a field argument below the root',
    q('{ project(id: "p") { name(environmentId: "env-prod-1") } }'),
    denied('argument environmentId'),
  ],
  [
    'a prod id in a query fragment argument',
    q('{ ...V } fragment V on Query { volumes(environmentId: "env-prod-1") { id } }'),
    denied('argument environmentId'),
  ],
  [
    'staging ids in a prod session',
    q('{ volumes(environmentId: "env-staging-1") { id } }'),
    denied('argument environmentId'),
    { cls: 'read', env: 'prod' },
  ],
  [
    'destructive still scoped to its environment',
    q('mutation { volumeDelete(volumeId: "vol-prod-1") }'),
    denied('argument volumeId'),
    { cls: 'destructive' },
  ],

  // malformed
  [
    'a mutation over GET',
    undefined,
    invalid(/mutation must be sent with POST/),
    { method: 'GET', query: `?query=${encodeURIComponent('mutation { variableUpsert(input: {}) }')}` },
  ],
  ['a document that does not parse', q('mutation { volumeDelete(volumeId: '), invalid(/does not parse/)],
  [
    'several operations and no operationName',
    q('query A { me { id } } query B { me { id } }'),
    invalid(/name one with operationName/),
  ],
  [
    'an operationName that is not in the document',
    q('query A { me { id } }', undefined, 'B'),
    invalid(/no operation named B/),
  ],
  ['a schema definition', q('type Query { x: Int }'), invalid(/only operations and fragments/)],
  ['an undefined fragment', q('{ ...Nope }'), invalid(/undefined fragment/)],
  ['a fragment that spreads itself', q('{ ...A } fragment A on Query { ...A }'), invalid(/spreads itself/)],
  [
    'no query (a persisted query)',
    { extensions: { persistedQuery: { sha256Hash: 'x' } } },
    invalid(/no query/),
  ],
  [
    'a query beside a persisted query hash',
    { query: '{ me { id } }', extensions: { persistedQuery: { version: 1, sha256Hash: 'x' } } },
    invalid(/persisted queries are not supported/),
  ],
  [
    'a query beside a stored document id',
    { query: '{ me { id } }', documentId: 'VolumeDelete' },
    invalid(/not documentId/),
  ],
  [
    'a batch element beside a stored id',
    [q('{ me { id } }'), { query: '{ me { id } }', id: 'abc' }],
    invalid(/not id/),
  ],
  ['extensions that are not an object', { query: '{ me { id } }', extensions: 'x' }, invalid(/extensions/)],
  ['other extensions pass on', { query: '{ me { id } }', extensions: { trace: true } }, 'ok'],
  ['an empty batch', [], invalid(/batch/)],
  ['not JSON', 'mutation { volumeDelete }', invalid(/not valid JSON/)],
  ['variables that are not an object', { query: '{ me { id } }', variables: [1] }, invalid(/variables/)],

  // read from one place only, and strictly: what is checked is all the upstream could read
  [
    'a GET with query, variables and operationName',
    undefined,
    'ok',
    {
      method: 'GET',
      query: `?query=${encodeURIComponent('query V($e: String!) { volumes(environmentId: $e) { id } }')}&variables=${encodeURIComponent('{"e":"env-staging-1"}')}&operationName=V`,
    },
  ],
  [
    'a POST with a mutation in its query string too',
    q('{ me { id } }'),
    invalid(/without a query string/),
    { query: `?query=${encodeURIComponent('mutation { volumeDelete(volumeId: "vol-prod-1") }')}` },
  ],
  [
    'a POST with variables in its query string too',
    q('query($e: String!) { volumes(environmentId: $e) { id } }', { e: 'env-staging-1' }),
    invalid(/without a query string/),
    { query: `?variables=${encodeURIComponent('{"e":"env-prod-1"}')}` },
  ],
  [
    'a GET with variables in a body',
    { variables: { e: 'env-prod-1' } },
    invalid(/GET carries its request in the URL only/),
    {
      method: 'GET',
      query: `?query=${encodeURIComponent('query($e: String) { volumes(environmentId: $e) { id } }')}`,
    },
  ],
  [
    'a GET naming its query twice',
    undefined,
    invalid(/gives query more than once/),
    {
      method: 'GET',
      query: `?query=${encodeURIComponent('{ me { id } }')}&query=${encodeURIComponent('{ volumes(environmentId: "env-prod-1") { id } }')}`,
    },
  ],
  [
    'a GET with another parameter',
    undefined,
    invalid(/takes only query, variables and operationName in its URL, not extensions/),
    { method: 'GET', query: `?query=${encodeURIComponent('{ me { id } }')}&extensions=%7B%7D` },
  ],
  [
    'a body giving query twice',
    `{"query":"mutation { volumeDelete(volumeId: \\"vol-prod-1\\") }","query":"{ me { id } }"}`,
    invalid(/gives the key "query" twice/),
  ],
  [
    'variables giving a scoped value twice',
    `{"query":"query($e: String!) { volumes(environmentId: $e) { id } }","variables":{"e":"env-prod-1","e":"env-staging-1"}}`,
    invalid(/gives the key "e" twice/),
  ],
  [
    'an integer past 2^53 in the variables',
    `{"query":"query($n: Int) { me { id } }","variables":{"n":9007199254740993}}`,
    invalid(/9007199254740993, too large to check exactly/),
  ],
  [
    'variables in a GET URL giving a key twice',
    undefined,
    invalid(/variables gives the key "e" twice/),
    {
      method: 'GET',
      query: `?query=${encodeURIComponent('query($e: String!) { volumes(environmentId: $e) { id } }')}&variables=${encodeURIComponent('{"e":"env-prod-1","e":"env-staging-1"}')}`,
    },
  ],
]

describe('GraphQL classification', () => {
  it('has at least 40 documents', () => expect(TABLE.length).toBeGreaterThanOrEqual(40))

  it.each(TABLE)('%s', (_what, body, expected, opts) => {
    const r = check(body, opts)
    if (expected === 'ok') {
      expect(r).toMatchObject({ ok: true })
      return
    }
    expect(r).toMatchObject({ ok: false, status: expected.status })
    if (!r.ok && expected.refused) expect(r.refused).toBe(expected.refused)
    if (!r.ok && expected.message) expect(r.message).toMatch(expected.message)
  })

  it('introspection fields pass only where the queries list allows them', () => {
    const named = validateGateway(
      {
        upstream: 'https://x.example/graphql',
        graphql: true,
        environments: { staging: { credential: 'env:X' } },
        operation_classes: { read: { queries: ['me', '__typename'] } },
      },
      { name: 'named', environments: ['staging'], operationClasses: ['read'], destructiveClasses: [] },
    )
    if (!named.ok) throw new Error('config')
    const t = { provider: 'named', environment: 'staging', operationClass: 'read' }
    const run = (query: string, method = 'POST') =>
      checkRequest(named.config, t, {
        method,
        contentType: 'application/json',
        body: Buffer.from(JSON.stringify({ query })),
        contained: containPath('/gw/named', '/gw/named') as never,
      })
    expect(run('{ me { id } __typename }')).toMatchObject({ ok: true })
    expect(run('{ __schema { types { name } } }')).toMatchObject({
      ok: false,
      status: 403,
      refused: '__schema',
    })
    expect(run('{ __type(name: "User") { name } }')).toMatchObject({
      ok: false,
      status: 403,
      refused: '__type',
    })
    expect(run('mutation { __typename }')).toMatchObject({ ok: true })
  })

  it('fragments that spread each other twice over cost their size: each root field counts once', () => {
    const doubling = (op: 'query' | 'mutation', k: number, last: string) => {
      const type = op === 'query' ? 'Query' : 'Mutation'
      const chain = Array.from(
        { length: k },
        (_, i) => `fragment F${i} on ${type} { ...F${i + 1} ...F${i + 1} }`,
      )
      return `${op} { ...F0 } ${chain.join(' ')} fragment F${k} on ${type} { ${last} }`
    }
    // 2^16 spreads of F16: its fields are found once and reused.
    const r = check(q(doubling('query', 16, 'me { id } volumes(environmentId: "env-staging-1") { id }')))
    expect(r).toMatchObject({ ok: true })
    if (r.ok) expect(r.fields.map((f) => f.name)).toEqual(['me', 'volumes'])
    // 2^60 spreads: answered, and a refused field deep inside is still found.
    const upsert = 'variableUpsert(input: {environmentId: "env-staging-1"})'
    expect(check(q(doubling('mutation', 60, upsert)))).toMatchObject({ ok: true })
    expect(
      check(q(doubling('mutation', 60, `${upsert} volumeDelete(volumeId: "vol-staging-1")`))),
    ).toMatchObject({
      ok: false,
      status: 403,
      refused: 'volumeDelete',
    })
  })

  it('a document whose fragments add up to too many root fields is refused', () => {
    const fields = Array.from({ length: 300 }, (_, i) => `f${i} { id }`).join(' ')
    const spreads = Array.from({ length: 200 }, () => '...F').join(' ')
    expect(check(q(`query { ${spreads} } fragment F on Query { ${fields} }`))).toMatchObject({
      ok: false,
      status: 400,
      message: 'the GraphQL document spreads its fragments too many times',
    })
  })

  it('a GraphQL gateway forwards to its upstream URL only, not to a path below it', () => {
    const r = checkRequest(
      cfg,
      { provider: 'railway', environment: 'staging', operationClass: 'write' },
      {
        method: 'POST',
        contentType: 'application/json',
        body: Buffer.from(JSON.stringify(q('{ me { id } }'))),
        contained: containPath('/gw/railway/admin', '/gw/railway') as never,
      },
    )
    expect(r).toMatchObject({ ok: false, status: 403 })
  })
})
