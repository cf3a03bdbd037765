// The gateway provider's config section: the example's two gateways load, and every problem is
// reported with its path; a class without two approvals cannot name destroying mutations or DELETE.
import { afterAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { parseConfig } from '../../src/config/load.js'
import { EXAMPLE, exampleLoadOptions, loadProblems } from '../support/example-config.js'

const { opts: OPTS, cleanup } = exampleLoadOptions('gateway-config')
afterAll(cleanup)

/** The example with only the jwt provider and the two gateways: railway is providers[1], admin-api providers[2]. */
function doc(): Record<string, any> {
  const d = parse(EXAMPLE) as Record<string, any>
  d['providers'] = (d['providers'] as { type: string }[]).filter(
    (p) => p.type === 'jwt' || p.type === 'gateway',
  )
  return d
}
const R = 'providers[1]'
const H = 'providers[2]'

function problems(edit: (d: Record<string, any>) => void) {
  const d = doc()
  edit(d)
  return loadProblems(stringify(d), OPTS)
}
const railway = (d: Record<string, any>) => d['providers'][1] as Record<string, any>
const admin = (d: Record<string, any>) => d['providers'][2] as Record<string, any>

describe('gateway provider config', () => {
  it('the example gateways load, with per-environment upstreams and scoped arguments', () => {
    const c = parseConfig(stringify(doc()), OPTS)
    const rw = c.providers[1]?.options as any
    expect(rw.graphql).toBe(true)
    expect(rw.timeoutMs).toBe(30_000)
    expect(rw.environments.prod).toEqual({
      upstream: 'https://backboard.railway.com/graphql/v2',
      credential: 'vault:railway/token',
      header: 'authorization',
      arguments: { environmentId: ['env-prod-1'], volumeId: ['vol-prod-1'], serviceId: ['svc-prod-1'] },
      callsPerMinute: null,
    })
    expect([...rw.scopedArguments].sort()).toEqual(['environmentId', 'serviceId', 'volumeId'])
    const ad = c.providers[2]?.options as any
    expect(ad.environments.staging.upstream).toBe('https://admin.staging.internal.example')
    expect(ad.environments.prod.upstream).toBe('https://admin.internal.example')
    expect(ad.classes.write.http.map((r: { text: string }) => r.text)).toContain('POST /api/**')
  })

  it.each([
    [
      'an ftp upstream',
      (d: any) => (railway(d).upstream = 'ftp://x.example/'),
      `${R}.upstream`,
      'http:// or https://',
    ],
    [
      'an upstream with user info',
      (d: any) => (railway(d).upstream = 'https://u:p@x.example/'),
      `${R}.upstream`,
      'without user info',
    ],
    [
      'an environment override that is not a URL',
      (d: any) => (admin(d).environments.staging.upstream = 'admin'),
      `${H}.environments.staging.upstream`,
      'http:// or https://',
    ],
    [
      'a literal credential',
      (d: any) => (railway(d).environments.staging.credential = 'rw_live_123'),
      `${R}.environments.staging.credential`,
      'secret reference',
    ],
    [
      'no credential',
      (d: any) => delete railway(d).environments.prod.credential,
      `${R}.environments.prod.credential`,
      'required',
    ],
    [
      'an unknown environment',
      (d: any) => (railway(d).environments.qa = { credential: 'vault:x' }),
      `${R}.environments.qa`,
      "unknown environment 'qa'",
    ],
    [
      'an unknown key',
      (d: any) => (railway(d).upstreams = 'x'),
      `${R}.upstreams`,
      'unknown key for a gateway provider',
    ],
    ['a bad timeout', (d: any) => (railway(d).timeout = '30 seconds'), `${R}.timeout`, 'expected a duration'],
    [
      'arguments without graphql',
      (d: any) => (admin(d).environments.prod.arguments = { id: ['1'] }),
      `${H}.environments.prod.arguments`,
      'graphql: true',
    ],
    [
      'an argument list that is not strings',
      (d: any) => (railway(d).environments.prod.arguments.volumeId = [1]),
      `${R}.environments.prod.arguments.volumeId[0]`,
      'expected a non-empty string',
    ],
    [
      'volumeDelete for write',
      (d: any) => railway(d).operation_classes.write.mutations.push('volumeDelete'),
      `${R}.operation_classes.write.mutations[3]`,
      'only a class marked destructive: true',
    ],
    [
      'a bare * mutation for write',
      (d: any) => (railway(d).operation_classes.write.mutations = ['*']),
      `${R}.operation_classes.write.mutations[0]`,
      'only a class marked destructive: true',
    ],
    [
      'a *Delete pattern for write',
      (d: any) => (railway(d).operation_classes.write.mutations = ['volume*Delete']),
      `${R}.operation_classes.write.mutations[0]`,
      'only a class marked destructive',
    ],
    [
      'a pattern ending in * for write (volume* reaches volumeDelete)',
      (d: any) => (railway(d).operation_classes.write.mutations = ['volume*']),
      `${R}.operation_classes.write.mutations[0]`,
      'only a class marked destructive',
    ],
    [
      'a pattern whose tail ends a destroying word for write (*e reaches volumeDelete)',
      (d: any) => (railway(d).operation_classes.write.mutations = ['variableUpsert', '*e']),
      `${R}.operation_classes.write.mutations[1]`,
      'only a class marked destructive',
    ],
    [
      'a *Create pattern for write (it reaches apiTokenCreate)',
      (d: any) => (railway(d).operation_classes.write.mutations = ['*Create']),
      `${R}.operation_classes.write.mutations[0]`,
      'only a class marked destructive',
    ],
    [
      'apiTokenCreate for write',
      (d: any) => (railway(d).operation_classes.write.mutations = ['apiTokenCreate']),
      `${R}.operation_classes.write.mutations[0]`,
      'only a class marked destructive',
    ],
    [
      'a *Remove pattern for read',
      (d: any) => (railway(d).operation_classes.read.mutations = ['memberRemove']),
      `${R}.operation_classes.read.mutations[0]`,
      'only a class marked destructive',
    ],
    [
      'a field pattern with punctuation',
      (d: any) => (railway(d).operation_classes.read.queries = ['me{}']),
      `${R}.operation_classes.read.queries[0]`,
      'root field name',
    ],
    [
      'http rules on a graphql gateway',
      (d: any) => (railway(d).operation_classes.read.http = ['GET /**']),
      `${R}.operation_classes.read.http`,
      'graphql: false',
    ],
    [
      'DELETE for write',
      (d: any) => admin(d).operation_classes.write.http.push('DELETE /api/**'),
      `${H}.operation_classes.write.http[4]`,
      'only a class marked destructive',
    ],
    [
      'any method for read',
      (d: any) => (admin(d).operation_classes.read.http = ['* /**']),
      `${H}.operation_classes.read.http[0]`,
      'only a class marked destructive',
    ],
    [
      'a rule without a method',
      (d: any) => (admin(d).operation_classes.read.http = ['/api/**']),
      `${H}.operation_classes.read.http[0]`,
      'METHOD /path/glob',
    ],
    [
      'a rule with a dot segment',
      (d: any) => (admin(d).operation_classes.read.http = ['GET /api/../x']),
      `${H}.operation_classes.read.http[0]`,
      'dot',
    ],
    [
      'queries on an http gateway',
      (d: any) => (admin(d).operation_classes.read.queries = ['*']),
      `${H}.operation_classes.read.queries`,
      'graphql: true',
    ],
    [
      'forwarding the cookie',
      (d: any) => (admin(d).forward_headers = ['Cookie']),
      `${H}.forward_headers[0]`,
      'never forwarded',
    ],
    [
      'forwarding a method override',
      (d: any) => (admin(d).forward_headers = ['x-request-id', 'X-HTTP-Method-Override']),
      `${H}.forward_headers[1]`,
      'changes the method',
    ],
    [
      'forwarding Range (a piece of an echoed credential is too short to be found)',
      (d: any) => (admin(d).forward_headers = ['x-request-id', 'Range']),
      `${H}.forward_headers[1]`,
      'never forwarded',
    ],
    [
      'forwarding If-Range',
      (d: any) => (admin(d).forward_headers = ['If-Range']),
      `${H}.forward_headers[0]`,
      'never forwarded',
    ],
    [
      'forwarding a content coding (the body is checked as sent; body-parser inflates it)',
      (d: any) => (admin(d).forward_headers = ['Content-Encoding']),
      `${H}.forward_headers[0]`,
      'never forwarded',
    ],
    [
      'an unknown class',
      (d: any) => (admin(d).operation_classes.admin = { http: ['GET /**'] }),
      `${H}.operation_classes.admin`,
      "unknown operation class 'admin'",
    ],
  ])('%s', (_what, edit, path, fragment) => {
    expect(problems(edit)).toEqual([{ path, message: expect.stringContaining(fragment) }])
  })

  it('*Update and other named mutations stay allowed for write; destructive classes may list anything', () => {
    expect(
      problems((d) => {
        railway(d).operation_classes.write.mutations = ['*Update', 'variableUpsert', 'deploymentRestart']
        admin(d).operation_classes.destructive.http = ['* /**']
      }),
    ).toEqual([])
  })
})
