// The `store` section's topologies (URL, Sentinel, Cluster), TLS and replica acknowledgements.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'
import { newKeys, testConfigYaml } from '../helper.js'

const dir = mkdtempSync(join(tmpdir(), 'airlock-store-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
writeFileSync(join(dir, 'ca.pem'), 'CA PEM\n')
const ENV = { REDIS_URL: 'rediss://:pw@redis.example:6380', REDIS_PASSWORD: 'canary-redis-password' }

/** The test config with its `store:` line replaced. */
const withStore = (store: string) =>
  testConfigYaml('airlock:', newKeys()).replace(/^store: .*$/m, `store: ${store}`)
const load = (store: string) => parseConfig(withStore(store), { baseDir: dir, env: ENV }).store
const problems = (store: string) => {
  try {
    load(store)
    return []
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    return e.problems
  }
}

describe('store topologies', () => {
  it('a rediss:// URL with TLS options, replica acks and their timeout', () => {
    expect(
      load(
        '{ redis_url: env:REDIS_URL, tls: { ca: file:ca.pem }, replica_acks: 1, replica_ack_timeout: 250ms }',
      ),
    ).toMatchObject({
      redis: {
        kind: 'standalone',
        url: ENV.REDIS_URL,
        tls: { ca: 'CA PEM', cert: null, key: null, servername: null },
      },
      replicaAcks: 1,
      replicaAckTimeoutMs: 250,
    })
  })

  it('sentinel: name, sentinels as host:port, the password from a reference', () => {
    expect(
      load(
        '{ sentinel: { name: airlock, sentinels: ["10.0.0.1:26379", "[::1]:26380", "s3:26381"], password: env:REDIS_PASSWORD } }',
      ).redis,
    ).toEqual({
      kind: 'sentinel',
      name: 'airlock',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
        { host: 's3', port: 26381 },
      ],
      password: ENV.REDIS_PASSWORD,
      sentinelPassword: null,
      tls: null,
    })
  })

  it('cluster: nodes as host:port', () => {
    expect(load('{ cluster: { nodes: ["a:7000", "b:7001"] }, replica_acks: 1 }')).toMatchObject({
      redis: {
        kind: 'cluster',
        nodes: [
          { host: 'a', port: 7000 },
          { host: 'b', port: 7001 },
        ],
        password: null,
      },
      replicaAcks: 1,
      replicaAckTimeoutMs: 1000,
    })
  })

  it.each([
    [
      '{ redis_url: env:REDIS_URL, cluster: { nodes: ["a:1"] } }',
      'store.cluster',
      'give one of redis_url, sentinel or cluster, not redis_url and cluster',
    ],
    ['{ sentinel: { name: x, sentinels: [] } }', 'store.sentinel.sentinels', 'expected a list of at least 1'],
    [
      '{ sentinel: { name: x, sentinels: ["nohost"] } }',
      'store.sentinel.sentinels[0]',
      'expected "host:port"',
    ],
    ['{ cluster: { nodes: ["a:70000"] } }', 'store.cluster.nodes[0]', 'expected a port from 1 to 65535'],
    [
      '{ sentinel: { name: x, sentinels: ["a:1"], password: hunter2 } }',
      'store.sentinel.password',
      'must be a secret reference',
    ],
    [
      '{ sentinel: { name: x, sentinels: ["a:1"], password: env:UNSET_PW } }',
      'store.sentinel.password',
      'environment variable UNSET_PW is not set',
    ],
    [
      '{ redis_url: "redis://h:1", tls: { ca: file:ca.pem } }',
      'store.tls',
      'TLS options need a rediss:// URL',
    ],
    ['{ redis_url: env:REDIS_URL, tls: { cert: file:ca.pem } }', 'store.tls.key', 'give both cert and key'],
    [
      '{ redis_url: env:REDIS_URL, replica_acks: -1 }',
      'store.replica_acks',
      'expected an integer from 0 to 16',
    ],
    [
      '{ redis_url: env:REDIS_URL, replica_ack_timeout: 2m }',
      'store.replica_ack_timeout',
      'from 10ms to 60s',
    ],
    // Redis Cluster would hash each whole key (no hash tag): every multi-key script fails CROSSSLOT.
    ['{ redis_url: env:REDIS_URL, key_prefix: "airlock{}:" }', 'store.key_prefix', 'empty hash tag'],
  ])('%s: a problem at %s', (store, path, message) => {
    const found = problems(store)
    expect(found).toContainEqual({ path, message: expect.stringContaining(message) })
    // Never the password or the URL's credentials.
    expect(JSON.stringify(found)).not.toMatch(/canary-redis-password|:pw@/)
  })
})
