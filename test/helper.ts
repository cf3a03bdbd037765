// Builds a real broker (real Redis, real config loader) for a test and cleans up only its own keys.
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { expect, inject } from 'vitest'
import {
  deletePrefix,
  newKeys,
  sessionBody,
  testConfigYaml,
  type PrincipalName,
  type YamlOptions,
} from './support/fixtures.js'

export {
  deletePrefix,
  newKeys,
  sessionBody,
  testConfigYaml,
  PRINCIPALS,
  type PrincipalName,
  type YamlOptions,
} from './support/fixtures.js'
import type { Clock } from '../src/clock.js'
import { parseConfig } from '../src/config/load.js'
import { createLogger } from '../src/log.js'
import { buildBroker, type BrokerHooks, type BrokerOptions, type RunningBroker } from '../src/broker.js'
import { generateSigningKey, type SigningKey } from '../src/tokens/keys.js'

export class TestClock implements Clock {
  constructor(public ms = Date.now()) {}
  now() {
    return this.ms
  }
  advance(ms: number) {
    this.ms += ms
  }
}

/** Collects every line written to it, for assertions and canary scans. */
export class LineSink extends Writable {
  lines: string[] = []
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.lines.push(...chunk.toString().split('\n').filter(Boolean))
    cb()
  }
}

export interface TestBroker {
  broker: RunningBroker
  app: RunningBroker['app']
  keys: Record<PrincipalName, string>
  prefix: string
  redisUrl: string
  audit: string[]
  logs: LineSink
  /** The fixed key, or the vault's active key at start. */
  signingKey: SigningKey
  as(p: PrincipalName): { authorization: string }
  close(): Promise<void>
}

export interface TestBrokerOptions extends Partial<Omit<BrokerOptions, 'config'>>, BrokerHooks {
  redisUrl?: string
  /** A vault master key: signing keys then come from the vault's key ring (no fixed signingKey). */
  masterKey?: Buffer
  yaml?: YamlOptions
  prefix?: string
  keys?: Record<PrincipalName, string>
  /** More environment variables for `env:` references (e.g. SLACK_BOT_TOKEN). */
  env?: Record<string, string>
  /** Edits the config's YAML before it is parsed. */
  edit?: (yaml: string) => string
}

export async function testBroker(o: TestBrokerOptions = {}): Promise<TestBroker> {
  const redisUrl = o.redisUrl ?? inject('redisUrl')
  const prefix = o.prefix ?? `airlock-test:${randomBytes(6).toString('hex')}:`
  const keys = o.keys ?? newKeys()
  const yaml = testConfigYaml(prefix, keys, o.yaml)
  const config = parseConfig(o.edit ? o.edit(yaml) : yaml, {
    baseDir: process.cwd(),
    env: { ...o.env, REDIS_URL: redisUrl },
  })
  const logs = new LineSink()
  const audit: string[] = []
  if (o.masterKey) config.vault = { backend: 'redis', file: null, masterKey: o.masterKey }
  const signingKey = o.masterKey ? undefined : (o.signingKey ?? (await generateSigningKey('EdDSA')))
  const { redisUrl: _r, yaml: _y, prefix: _p, keys: _k, masterKey: _m, env: _e, edit: _d, ...rest } = o
  const { logger, allowMemoryStore, ...hooks } = rest
  const broker = await buildBroker(
    {
      config,
      logger: logger ?? createLogger({ level: 'info', destination: logs }),
      ...(allowMemoryStore !== undefined && { allowMemoryStore }),
    },
    {
      sweeper: false,
      auditOut: (line) => audit.push(...line.split('\n')),
      ...hooks,
      ...(signingKey && { signingKey }),
    },
  )
  return {
    broker,
    app: broker.app,
    keys,
    prefix,
    redisUrl,
    audit,
    logs,
    signingKey: signingKey ?? broker.app.broker.tokens.activeKey(),
    as: (p) => ({ authorization: `Bearer ${keys[p]}` }),
    async close() {
      await broker.close()
      await deletePrefix(redisUrl, prefix)
    },
  }
}

/**
 * Another replica of `t` (its store, keys and signing key) started with the test config edited by
 * `edit`: a broker whose config is newer than the sessions it serves, as when another replica
 * has not reloaded yet or a reload's revocations are still being retried. `close()` leaves the
 * store's keys to `t`.
 */
export async function replicaWith(
  t: TestBroker,
  edit: (yaml: string) => string,
  o: TestBrokerOptions = {},
): Promise<TestBroker> {
  const r = await testBroker({
    ...o,
    edit,
    prefix: t.prefix,
    keys: t.keys,
    redisUrl: t.redisUrl,
    signingKey: t.signingKey,
  })
  return { ...r, close: () => r.broker.close() }
}

/** Collects every response's headers and body as sent, into `into`, for canary searches. */
export function captureResponses(app: TestBroker['app'], into: string[]): string[] {
  app.addHook('onSend', async (_req, reply, payload) => {
    into.push(JSON.stringify(reply.getHeaders()), typeof payload === 'string' ? payload : String(payload))
    return payload
  })
  return into
}

type Injectable = { inject: TestBroker['app']['inject'] }

/** Shorthand for JSON calls as a principal. */
export function client(app: Injectable, keys: Record<string, string>) {
  const call = async (
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    who: string | null,
    payload?: unknown,
  ) => {
    const headers: Record<string, string> = who ? { authorization: `Bearer ${keys[who] ?? who}` } : {}
    const r = await app.inject({
      method,
      url,
      headers,
      ...(payload !== undefined && { payload: payload as object }),
    })
    return {
      status: r.statusCode,
      body: r.body ? (JSON.parse(r.body) as Record<string, any>) : {},
      headers: r.headers,
    }
  }
  return {
    get: (url: string, who: string | null) => call('GET', url, who),
    post: (url: string, who: string | null, payload: unknown = {}) => call('POST', url, who, payload),
    del: (url: string, who: string | null) => call('DELETE', url, who),
    /** Requests a session as `agent` and expects a grant. */
    async issue(agent: string, over: Record<string, unknown> = {}) {
      const r = await call('POST', '/v1/sessions', agent, sessionBody(over))
      if (r.status !== 201) throw new Error(`issue failed: ${r.status} ${JSON.stringify(r.body)}`)
      return r.body as { session: Record<string, any>; grant: { token: string; expires_at: string } }
    },
    /** Requests a destructive session as build-bot, has bob and carol approve it; returns its id. */
    async approved(over: Record<string, unknown> = {}) {
      const body = sessionBody({ operation_class: 'destructive', ...over })
      const r = await call('POST', '/v1/sessions', 'build-bot', body)
      expect(r.status, JSON.stringify(r.body)).toBe(202)
      const id = r.body.session.id as string
      for (const who of ['bob', 'carol']) {
        const d = await call('POST', `/v1/sessions/${id}/approvals`, who, { decision: 'approve' })
        expect(d.status).toBe(200)
      }
      return id
    },
  }
}
