// The audit chain (canonical JSON, hashes), the group-commit writer against both stores, failure
// and resync, tamper detection (edit, delete, tail delete, forged re-chain, checkpoints), and the
// HTTP API (GET /v1/audit, GET /v1/audit/verify).
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import {
  canonicalJson,
  hashEvent,
  sealEvent,
  verifyChains,
  ZERO_HASH,
  type AuditEvent,
} from '../src/audit/chain.js'
import { createAuditLog, type AuditLog, type AuditLogDeps } from '../src/audit/log.js'
import { parseAuditJson, verifyAuditLog } from '../src/audit/read.js'
import { auditVerify } from '../src/cli/audit-verify.js'
import { iso } from '../src/clock.js'
import { AirlockError, StoreUnavailableError } from '../src/errors.js'
import { redisKeys } from '../src/store/keys.js'
import { createMemoryStore } from '../src/store/memory.js'
import { createRedisStore, type RedisStore } from '../src/store/redis.js'
import type { AuditStore, ChainHead, Store } from '../src/store/types.js'
import { client, deletePrefix, TestClock, testBroker, type TestBroker } from './helper.js'
import { newKeys, testConfigYaml } from './support/fixtures.js'
import { makeLock, makeRec } from './support/records.js'

// ---------------------------------------------------------------------------------------------
// Helpers

const HOUR = 3_600_000

/** An independent canonical JSON (not src/audit/chain.ts): sorted keys, no whitespace. */
const canon = (v: unknown): string => {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canon(x))).join(',')}]`
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canon(x)}`).join(',')}}`
  }
  return JSON.stringify(v)
}
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
/** The documented hash, recomputed without hashEvent. */
const expectedHash = (e: AuditEvent): string => {
  const { hash: _hash, ...rest } = e
  return sha256(canon(rest))
}

/** Asserts one contiguous, correctly linked chain starting at `from` (after `prev`). */
function expectChain(events: AuditEvent[], from = 1, prev = ZERO_HASH) {
  events.forEach((e, i) => {
    expect(e.seq).toBe(from + i)
    expect(e.prev_hash).toBe(i === 0 ? prev : events[i - 1]?.hash)
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(e.hash).toBe(expectedHash(e))
  })
}

async function readAll(store: AuditStore): Promise<{ pos: string; event: AuditEvent }[]> {
  const out: { pos: string; event: AuditEvent }[] = []
  let after: string | undefined
  for (;;) {
    const rows = await store.readAudit({ afterPos: after, count: 1000 })
    if (rows.length === 0) return out
    for (const r of rows) out.push({ pos: r.pos, event: parseAuditJson(r.json) })
    after = rows.at(-1)?.pos
  }
}
const events = async (store: AuditStore) => (await readAll(store)).map((r) => r.event)

/** A fresh event with the correct hash (what an attacker can compute). */
const rehash = (e: Omit<AuditEvent, 'hash'>): AuditEvent => ({ ...e, hash: hashEvent(e) })

const redisUrl = inject('redisUrl')
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function newRedisStore(): Promise<{ store: RedisStore; prefix: string }> {
  const prefix = `airlock-test:audit:${randomBytes(6).toString('hex')}:`
  const store = await createRedisStore(redisUrl, prefix)
  cleanups.push(async () => {
    await store.close()
    await deletePrefix(redisUrl, prefix)
  })
  return { store, prefix }
}

interface Harness {
  log: AuditLog
  lines: string[]
  clock: TestClock
  failures: unknown[]
}

function newLog(store: AuditStore, over: Partial<AuditLogDeps> = {}): Harness {
  const lines: string[] = []
  const failures: unknown[] = []
  const clock = new TestClock(Date.parse('2030-01-01T00:00:00.000Z'))
  const log = createAuditLog({
    store,
    chain: `ch_${randomBytes(6).toString('hex')}`,
    clock,
    retentionMs: () => 3_600_000,
    out: (line) => lines.push(...line.split('\n')),
    checkpointEveryMs: 3_600_000,
    onFailure: (e) => failures.push(e),
    newChain: () => `ch_${randomBytes(6).toString('hex')}`,
    ...over,
  })
  cleanups.push(async () => log.close())
  return { log, lines, clock, failures }
}

const eventLines = (lines: string[]) =>
  lines.map((l) => JSON.parse(l) as { type: string }).filter((l) => l.type !== 'audit.checkpoint')

async function recordN(log: AuditLog, n: number, from = 0) {
  for (let i = from; i < from + n; i++) {
    await log.record({ type: 'test.event', actor: 'tester', session_id: `ses_${i}`, details: { i } })
  }
}

// ---------------------------------------------------------------------------------------------

describe('canonicalJson and hashEvent', () => {
  it('sorts keys recursively, keeps array order, drops undefined and has no whitespace', () => {
    const value = { b: 1, a: { d: [3, 1, { z: 1, y: 2 }], c: 'x y', u: undefined }, _: null, B: [] }
    expect(canonicalJson(value)).toBe('{"B":[],"_":null,"a":{"c":"x y","d":[3,1,{"y":2,"z":1}]},"b":1}')
    // Insertion order does not matter.
    expect(canonicalJson({ a: { c: 'x y', d: [3, 1, { y: 2, z: 1 }] }, _: null, B: [], b: 1 })).toBe(
      canonicalJson(value),
    )
    // Outside of strings there is no whitespace at all.
    const s = canonicalJson({ k: [1, { m: true, n: [null, 'sp ace'] }], j: { x: 1.5 } })
    expect(s.replace(/"(?:[^"\\]|\\.)*"/g, '""')).not.toMatch(/\s/)
    // Keys sort by code unit, also integer-like keys (not JavaScript's own property order).
    expect(canonicalJson({ 9: 'n', 10: 't', a: 1 })).toBe('{"10":"t","9":"n","a":1}')
    // Array order kept; undefined in arrays is null as in JSON.
    expect(canonicalJson([3, 2, 1, undefined])).toBe('[3,2,1,null]')
    // Strings escape exactly like JSON; primitives as JSON.
    expect(canonicalJson({ 'q"k': 'line\nbreak "quoted" é' })).toBe(
      `{${JSON.stringify('q"k')}:${JSON.stringify('line\nbreak "quoted" é')}}`,
    )
    expect(canonicalJson(null)).toBe('null')
    expect(canonicalJson(42)).toBe('42')
    expect(canonicalJson(false)).toBe('false')
    // It is valid JSON that round-trips.
    expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)))
  })

  it('hashEvent is the hex SHA-256 of the canonical JSON of the event without `hash`', () => {
    const event: AuditEvent = {
      type: 'session.issued',
      seq: 7,
      prev_hash: 'ab'.repeat(32),
      chain: 'ch_test',
      at: '2030-01-01T00:00:00.000Z',
      actor: 'build-bot',
      session_id: 'ses_abc',
      details: { z: [2, 1], a: { y: 'b', x: null } },
      hash: 'ignored',
    }
    const canonical =
      '{"actor":"build-bot","at":"2030-01-01T00:00:00.000Z","chain":"ch_test",' +
      '"details":{"a":{"x":null,"y":"b"},"z":[2,1]},"prev_hash":"' +
      'ab'.repeat(32) +
      '","seq":7,"session_id":"ses_abc","type":"session.issued"}'
    const { hash: _h, ...rest } = event
    expect(canonicalJson(rest)).toBe(canonical)
    expect(hashEvent(rest)).toBe(createHash('sha256').update(canonical, 'utf8').digest('hex'))
    expect(hashEvent(rest)).toMatch(/^[0-9a-f]{64}$/)
    // Any change of content changes the hash; key order does not.
    expect(hashEvent({ ...rest, details: { a: { y: 'b', x: null }, z: [1, 2] } })).not.toBe(hashEvent(rest))
    const reordered = Object.fromEntries(Object.entries(rest).reverse()) as Omit<AuditEvent, 'hash'>
    expect(hashEvent(reordered)).toBe(hashEvent(rest))
  })

  it.each([
    ['a session event', { session_id: 'ses_1', details: { b: [1, { d: null, c: 'x' }], a: 'é "q"\n' } }],
    ['no session, empty details', { session_id: null, details: {} }],
    [
      'fields of other types (the generic path)',
      { session_id: undefined as unknown as null, seq: 1.5, details: {} },
    ],
    ['odd strings', { actor: 'a"b\\c', type: 'x\u2028y', session_id: null, details: { '': 0, 10: 1, 9: 2 } }],
  ])('sealEvent (the writer fast path) hashes and stores exactly what hashEvent checks: %s', (_n, over) => {
    const body: Omit<AuditEvent, 'hash'> = {
      chain: 'ch_x',
      seq: 12,
      at: '2030-01-01T00:00:00.000Z',
      type: 'session.issued',
      actor: 'build-bot',
      prev_hash: 'cd'.repeat(32),
      ...over,
    }
    const { hash, line } = sealEvent(body)
    expect(hash).toBe(hashEvent(body))
    expect(hash).toBe(sha256(canon(body)))
    expect(JSON.parse(line)).toEqual({ ...body, hash })
  })
})

// ---------------------------------------------------------------------------------------------

const backends: { name: string; make(): Promise<Store> }[] = [
  { name: 'memory', make: async () => createMemoryStore() },
  { name: 'redis', make: async () => (await newRedisStore()).store },
]

describe.each(backends)('createAuditLog on the $name store', ({ make }) => {
  it('group-commits 300 concurrent records into one contiguous, verifiable chain', async () => {
    const store = await make()
    const appends = vi.spyOn(store, 'appendAudit')
    const { log, lines } = newLog(store)
    const N = 300
    await Promise.all(
      Array.from({ length: N }, (_, i) =>
        log.record({
          type: 'test.event',
          actor: i % 2 ? 'build-bot' : 'ops',
          session_id: i % 3 ? `ses_${i}` : null,
          details: { i },
        }),
      ),
    )

    const stored = await events(store)
    expect(stored).toHaveLength(N)
    expect(new Set(stored.map((e) => e.chain))).toEqual(new Set([log.chain]))
    expect(stored[0]?.prev_hash).toBe(ZERO_HASH)
    expectChain(stored)
    // Calls keep their order in the chain.
    expect(stored.map((e) => e.details['i'])).toEqual(Array.from({ length: N }, (_, i) => i))
    expect(stored.every((e) => e.type === 'test.event' && e.at === '2030-01-01T00:00:00.000Z')).toBe(true)

    // Batching: far fewer appends than events.
    expect(appends.mock.calls.length).toBeGreaterThanOrEqual(1)
    expect(appends.mock.calls.length).toBeLessThan(N)
    expect(appends.mock.calls.reduce((n, c) => n + (c[3] as string[]).length, 0)).toBe(N)

    // stdout got every event, in order, and the lines are the stored events.
    expect(lines).toHaveLength(N)
    expect(lines.map((l) => JSON.parse(l) as AuditEvent)).toEqual(stored)

    expect(log.head()).toEqual({ seq: N, hash: stored.at(-1)?.hash })
    expect(await store.auditHead(log.chain)).toEqual(log.head())
    const v = await verifyAuditLog(store)
    expect(v).toEqual({
      ok: true,
      events: N,
      chains: [{ chain: log.chain, first: 1, last: N }],
      problems: [],
      notes: [],
    })
  })

  it('creates sessions in the batch of their events; a refused one ends alone, the chain stays whole', async () => {
    const store = await make()
    const { log, lines, clock } = newLog(store)
    const now = clock.now()
    await store.putLock(makeLock(now, { agent: 'other-bot' }))
    const taken = makeRec(now, { status: 'active' })
    expect(await store.createSession(taken, HOUR, now)).toBe('ok')
    const recs = Array.from({ length: 20 }, (_, i) =>
      i === 11 ? taken : makeRec(now, { status: 'active', agent: i === 7 ? 'other-bot' : 'build-bot' }),
    )
    const results = await Promise.all([
      ...recs.map((rec, i) =>
        log.create(rec, HOUR, {
          type: 'session.issued',
          actor: rec.agent,
          session_id: rec.id,
          details: { i },
        }),
      ),
      log.record({ type: 'test.event', actor: 'ops' }),
    ])
    expect(results).toEqual([
      ...recs.map((_, i) => (i === 7 ? 'locked' : i === 11 ? 'exists' : 'ok')),
      undefined,
    ])

    const stored = await events(store)
    expect(stored.map((e) => e.details['i'] ?? e.type)).toEqual([
      ...recs.flatMap((_, i) => (i === 7 || i === 11 ? [] : [i])),
      'test.event',
    ])
    expectChain(stored)
    expect(await store.getSessions(recs.map((r) => r.id))).toEqual(recs.map((r, i) => (i === 7 ? null : r)))
    expect(lines.map((l) => JSON.parse(l) as AuditEvent)).toEqual(stored)
    expect(await verifyAuditLog(store)).toMatchObject({ ok: true, events: 19, problems: [] })
  })

  it('keeps one chain across sequential and multi-event records', async () => {
    const store = await make()
    const { log } = newLog(store)
    await recordN(log, 3)
    await log.record(
      { type: 'a', actor: 'x', details: { n: 1 } },
      { type: 'b', actor: 'x', session_id: 'ses_1' },
    )
    const stored = await events(store)
    expect(stored.map((e) => e.type)).toEqual(['test.event', 'test.event', 'test.event', 'a', 'b'])
    expect(stored[4]).toMatchObject({ session_id: 'ses_1', details: {} })
    expectChain(stored)
    expect((await verifyAuditLog(store)).ok).toBe(true)
  })
})

// ---------------------------------------------------------------------------------------------

describe('createAuditLog failures', () => {
  it('rejects with unavailable when an append fails, then resyncs and stays contiguous', async () => {
    const store = createMemoryStore()
    const { log, failures, lines } = newLog(store)
    await recordN(log, 5)

    const boom = new StoreUnavailableError('Redis audit append failed: connection reset')
    vi.spyOn(store, 'appendAudit').mockRejectedValueOnce(boom)
    const failed = log.record({ type: 'test.event', actor: 'tester', details: { lost: true } })
    await expect(failed).rejects.toBeInstanceOf(AirlockError)
    await expect(failed).rejects.toMatchObject({ code: 'unavailable', statusCode: 503 })
    expect(failures).toEqual([boom])

    // Later records (several at once) succeed and continue the chain where the store left it.
    await Promise.all([
      recordN(log, 1, 5),
      log.record({ type: 'x', actor: 'y' }),
      log.record({ type: 'z', actor: 'y' }),
    ])
    const stored = await events(store)
    expect(stored).toHaveLength(8)
    expect(stored.some((e) => e.details['lost'])).toBe(false)
    expectChain(stored)
    expect(log.head()).toEqual({ seq: 8, hash: stored[7]?.hash })
    expect(await verifyAuditLog(store)).toMatchObject({ ok: true, problems: [] })
    expect(eventLines(lines)).toHaveLength(8)
  })

  it('resyncs from the store when the write landed but its reply was lost', async () => {
    const store = createMemoryStore()
    const { log } = newLog(store)
    await recordN(log, 3)

    const real = store.appendAudit.bind(store)
    const spy = vi.spyOn(store, 'appendAudit').mockImplementationOnce(async (...args) => {
      expect(await real(...args)).toBe('ok')
      throw new StoreUnavailableError('Redis audit append failed: Command timed out')
    })
    await expect(
      log.record({ type: 'test.event', actor: 'tester', details: { landed: true } }),
    ).rejects.toMatchObject({
      code: 'unavailable',
    })
    expect(log.head()).toMatchObject({ seq: 3 }) // the writer does not know it landed

    await recordN(log, 2, 10)
    expect(spy).toHaveBeenCalledTimes(3) // 3 before, then the lost one, then 2 sequential
    const stored = await events(store)
    expect(stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6])
    expect(stored[3]?.details).toEqual({ landed: true })
    expectChain(stored)
    expect(log.head()).toEqual(await store.auditHead(log.chain))
    expect(await verifyAuditLog(store)).toMatchObject({ ok: true, problems: [] })
  })

  it('resyncs and retries once when another writer moved the head', async () => {
    const store = createMemoryStore()
    const a = newLog(store)
    const b = newLog(store, { chain: a.log.chain })
    await a.log.record({ type: 'one', actor: 'a' })
    await b.log.record({ type: 'two', actor: 'b' }) // b syncs its head from the store first
    await a.log.record({ type: 'three', actor: 'a' }) // a's head is stale: conflict, resync, retry
    expect(a.failures).toEqual([])
    const stored = await events(store)
    expect(stored.map((e) => e.type)).toEqual(['one', 'two', 'three'])
    expectChain(stored)
    expect((await verifyAuditLog(store)).ok).toBe(true)
  })

  it('rejects (does not spin) when the store refuses a create the batch does not hold', async () => {
    const store = createMemoryStore()
    const { log, failures } = newLog(store)
    vi.spyOn(store, 'appendAudit').mockResolvedValueOnce({ refused: [{ index: 3, result: 'locked' }] })
    await expect(log.record({ type: 'x', actor: 'a' })).rejects.toMatchObject({ code: 'unavailable' })
    expect(String(failures[0])).toMatch(/does not hold/)
    await log.record({ type: 'y', actor: 'a' })
    expect((await events(store)).map((e) => e.type)).toEqual(['y'])
  })

  it('rejects with unavailable when the head keeps moving, and recovers', async () => {
    const store = createMemoryStore()
    const { log, failures } = newLog(store)
    await log.record({ type: 'one', actor: 'a' })
    vi.spyOn(store, 'appendAudit').mockResolvedValueOnce('conflict').mockResolvedValueOnce('conflict')
    await expect(log.record({ type: 'lost', actor: 'a' })).rejects.toMatchObject({ code: 'unavailable' })
    expect(String(failures[0])).toMatch(/head moved/)
    await log.record({ type: 'two', actor: 'a' })
    const stored = await events(store)
    expect(stored.map((e) => e.type)).toEqual(['one', 'two'])
    expectChain(stored)
    expect((await verifyAuditLog(store)).ok).toBe(true)
  })

  it('starts a new chain, linked to the old one, when the store lost the head', async () => {
    const { store, prefix } = await newRedisStore()
    const lost: [string, ChainHead][] = []
    const { log } = newLog(store, { onChainLost: (c, h) => lost.push([c, h]) })
    const first = log.chain
    await recordN(log, 3)
    const head = log.head() as ChainHead
    await store.redis.del(redisKeys(prefix).auditHead(first))
    await recordN(log, 2, 3)
    expect(lost).toEqual([[first, head]])
    expect(log.chain).not.toBe(first)
    const stored = await events(store)
    expect(stored.map((e) => [e.chain, e.seq, e.type])).toEqual([
      [first, 1, 'test.event'],
      [first, 2, 'test.event'],
      [first, 3, 'test.event'],
      [log.chain, 1, 'audit.chain_continued'],
      [log.chain, 2, 'test.event'],
      [log.chain, 3, 'test.event'],
    ])
    expect(stored[3]?.details).toMatchObject({
      previous_chain: first,
      previous_seq: 3,
      previous_hash: head.hash,
    })
    expectChain(stored.slice(0, 3))
    expectChain(stored.slice(3))
    expect(await verifyAuditLog(store)).toMatchObject({ ok: true, problems: [] })
    // A checkpoint of the old chain still binds its events.
    expect(await verifyAuditLog(store, { [first]: head })).toMatchObject({ ok: true, problems: [] })
  })

  it('a failover that lost the last events: a linked chain, and verify explains the gap instead of reporting it', async () => {
    const { store, prefix } = await newRedisStore()
    const k = redisKeys(prefix)
    const { log, lines } = newLog(store)
    const first = log.chain
    await recordN(log, 3)
    // What a replica promoted before it had the last two appends holds: events 1..3 and head 3.
    const kept = await store.redis.get(k.auditHead(first))
    const keptIds = (await store.redis.xrange(k.audit, '-', '+')).map(([id]) => id)
    await recordN(log, 2, 3)
    const checkpoint = log.head() as ChainHead
    await store.redis.set(k.auditHead(first), kept as string)
    await store.redis.xdel(
      k.audit,
      ...(await store.redis.xrange(k.audit, '-', '+')).map(([id]) => id).slice(keptIds.length),
    )
    await recordN(log, 1, 5)
    expect(log.chain).not.toBe(first)
    const stored = await events(store)
    expect(stored.map((e) => [e.chain, e.seq])).toEqual([
      [first, 1],
      [first, 2],
      [first, 3],
      [log.chain, 1],
      [log.chain, 2],
    ])
    expect(stored[3]?.details).toMatchObject({ previous_chain: first, previous_seq: 5, stored_seq: 3 })
    const note = `${first}: events 4..5 were lost by the store`
    const alone = await verifyAuditLog(store)
    expect(alone).toMatchObject({ ok: true, problems: [] })
    expect(alone.notes).toEqual([expect.stringContaining(note)])
    // The broker's stdout (what `audit verify --checkpoints` reads) names seq 5 of the old chain:
    // explained by the continuation, not reported as a deleted tail.
    const printed = eventLines(lines) as unknown as { chain: string; seq: number; hash: string }[]
    expect(printed.find((e) => e.chain === first && e.seq === 5)?.hash).toBe(checkpoint.hash)
    const withStdout = await verifyAuditLog(store, { [first]: checkpoint })
    expect(withStdout).toMatchObject({ ok: true, problems: [] })
    expect(withStdout.notes).toEqual([expect.stringContaining(note)])
    // Without the continuation event the same gap is a problem.
    expect(verifyChains(stored.slice(0, 3), {}, { [first]: checkpoint }).problems).toEqual([
      `${first}: events 4..5 are missing (tail deleted)`,
    ])
  })

  it('rejects when the head cannot be read, and recovers', async () => {
    const store = createMemoryStore()
    vi.spyOn(store, 'auditHead').mockRejectedValueOnce(new StoreUnavailableError('down'))
    const { log } = newLog(store)
    await expect(log.record({ type: 'a', actor: 'x' })).rejects.toMatchObject({ code: 'unavailable' })
    await log.record({ type: 'b', actor: 'x' })
    const stored = await events(store)
    expect(stored.map((e) => [e.type, e.seq])).toEqual([['b', 1]])
    expectChain(stored)
  })
})

// ---------------------------------------------------------------------------------------------

describe('tamper detection on a Redis-backed log', () => {
  async function tenEvents() {
    const { store, prefix } = await newRedisStore()
    const { log, lines } = newLog(store)
    await recordN(log, 10)
    const rows = await readAll(store)
    expect(rows).toHaveLength(10)
    return { store, log, lines, rows, prefix, keys: redisKeys(prefix), chain: log.chain }
  }

  it('a clean log verifies', async () => {
    const { store, chain } = await tenEvents()
    expect(await verifyAuditLog(store)).toEqual({
      ok: true,
      events: 10,
      chains: [{ chain, first: 1, last: 10 }],
      problems: [],
      notes: [],
    })
    expect(verifyChains(await events(store))).toMatchObject({ ok: true, problems: [] })
  })

  it('airlock audit verify --config exits 0 on a clean log and 1 (not one of the failure exit codes) on an edited one', async () => {
    const { store, rows, keys, chain, prefix } = await tenEvents()
    const dir = mkdtempSync(join(tmpdir(), 'airlock-verify-'))
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'airlock.yaml')
    writeFileSync(file, testConfigYaml(prefix, newKeys()).replace('env:REDIS_URL', `"${redisUrl}"`))
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      expect(await auditVerify(file)).toBe(0)
      const edited = { ...(rows[3]?.event as AuditEvent), actor: 'someone-else' }
      await store.redis.xdel(keys.audit, rows[3]?.pos as string)
      await store.redis.xadd(keys.audit, '*', 'e', JSON.stringify(edited))
      expect(await auditVerify(file)).toBe(1)
      expect(out.mock.calls.map((c) => String(c[0])).join('')).toContain(`PROBLEM ${chain} #4`)
    } finally {
      out.mockRestore()
    }
  })

  it('an edited event does not match its hash', async () => {
    const { store, chain, rows, keys } = await tenEvents()
    const list = rows.map((r) => structuredClone(r.event))
    ;(list[3] as AuditEvent).details = { i: 3, note: 'nothing to see' }
    const r = verifyChains(list)
    expect(r.ok).toBe(false)
    expect(r.problems).toEqual([`${chain} #4: content does not match its hash (edited)`])

    // The same edit made in Redis: streams cannot be edited in place, so delete and re-add
    // (verification orders a chain by seq, not by stream position).
    const edited = { ...(rows[3]?.event as AuditEvent), actor: 'someone-else' }
    expect(await store.redis.xdel(keys.audit, rows[3]?.pos as string)).toBe(1)
    await store.redis.xadd(keys.audit, '*', 'e', JSON.stringify(edited))
    const v = await verifyAuditLog(store)
    expect(v.ok).toBe(false)
    expect(v.events).toBe(10)
    expect(v.problems).toEqual([`${chain} #4: content does not match its hash (edited)`])
  })

  it('an edit whose hash was recomputed breaks the next link', async () => {
    const { chain, rows } = await tenEvents()
    const list = rows.map((r) => r.event)
    const { hash: _h, ...rest } = list[3] as AuditEvent
    list[3] = rehash({ ...rest, details: { i: 3, forged: true } })
    expect(verifyChains(list).problems).toEqual([`${chain} #5: prev_hash does not link to #4`])
  })

  it('a deleted middle event is reported missing', async () => {
    const { store, chain, rows, keys } = await tenEvents()
    expect(await store.redis.xdel(keys.audit, rows[4]?.pos as string)).toBe(1)
    const v = await verifyAuditLog(store)
    expect(v.ok).toBe(false)
    expect(v.events).toBe(9)
    expect(v.problems).toEqual([`${chain}: events 5..5 are missing (deleted)`])
  })

  it('a deleted tail is reported thanks to the chain head key', async () => {
    const { store, chain, rows, keys } = await tenEvents()
    expect(await store.redis.xdel(keys.audit, ...rows.slice(7).map((r) => r.pos))).toBe(3)
    // The remaining events alone form a perfectly valid chain...
    expect(verifyChains(await events(store)).ok).toBe(true)
    // ...but the recorded head says there were more.
    const v = await verifyAuditLog(store)
    expect(v.ok).toBe(false)
    expect(v.problems).toEqual([`${chain}: events 8..10 are missing (tail deleted)`])

    // Every event deleted: still reported while the chain is known (here from a checkpoint).
    await store.redis.xdel(keys.audit, ...rows.slice(0, 7).map((r) => r.pos))
    const all = await verifyAuditLog(store, { [chain]: { seq: 10, hash: rows[9]?.event.hash as string } })
    expect(all.problems).toEqual([`${chain}: events 1..10 are missing (tail deleted)`])
  })

  it('after trimAudit, verification starts from the anchor', async () => {
    const { store, log, chain, rows, keys } = await tenEvents()
    // Make sure the next events get a later stream time than the ones to trim.
    const lastMs = Number(rows[9]?.pos.split('-')[0])
    for (;;) {
      const [sec, micro] = await store.redis.time()
      if (Number(sec) * 1000 + Math.floor(Number(micro) / 1000) > lastMs) break
    }
    await recordN(log, 5, 10)
    expect(await store.trimAudit(lastMs + 1, parseAuditJson)).toBe(10)
    expect(await store.auditAnchors()).toEqual({ [chain]: { seq: 10, hash: rows[9]?.event.hash } })

    const v = await verifyAuditLog(store)
    expect(v).toEqual({
      ok: true,
      events: 5,
      chains: [{ chain, first: 11, last: 15 }],
      problems: [],
      notes: [],
    })
    expectChain(await events(store), 11, rows[9]?.event.hash)

    // The anchor also binds the first kept event.
    const kept = await readAll(store)
    await store.redis.xdel(keys.audit, kept[0]?.pos as string)
    expect((await verifyAuditLog(store)).problems).toEqual([`${chain}: events 11..11 are missing (deleted)`])
  })

  it('trimming everything leaves a log that still verifies', async () => {
    const { store, chain, rows } = await tenEvents()
    const lastMs = Number(rows[9]?.pos.split('-')[0])
    expect(await store.trimAudit(lastMs + 1, parseAuditJson)).toBe(10)
    expect(
      await verifyAuditLog(store, { [chain]: { seq: 10, hash: rows[9]?.event.hash as string } }),
    ).toMatchObject({
      ok: true,
      events: 0,
      problems: [],
    })
  })

  /**
   * Deletes event `k` (1-based) and re-chains every later one, as an attacker with write access to
   * the stream could; with `filler`, appends one forged event so the chain keeps its length.
   */
  function forgeWithout(list: AuditEvent[], k: number, filler?: Record<string, unknown>): AuditEvent[] {
    const out: AuditEvent[] = list.slice(0, k - 1)
    const later = list.slice(k).map(({ hash: _h, ...rest }) => rest)
    const last = later.at(-1)
    if (filler && last) later.push({ ...last, details: filler })
    let prev = out.at(-1)?.hash ?? ZERO_HASH
    for (const e of later) {
      const forged = rehash({ ...e, seq: out.length + 1, prev_hash: prev })
      out.push(forged)
      prev = forged.hash
    }
    return out
  }

  async function replaceStream(
    store: RedisStore,
    stream: string,
    oldRows: { pos: string }[],
    list: AuditEvent[],
  ) {
    await store.redis.xdel(stream, ...oldRows.map((r) => r.pos))
    for (const e of list) await store.redis.xadd(stream, '*', 'e', JSON.stringify(e))
  }

  it('a re-chained forgery is caught by the recorded head and by checkpoints', async () => {
    const { store, log, chain, rows, keys } = await tenEvents()
    const real = rows.map((r) => r.event)
    const checkpoint: Record<string, ChainHead> = { [chain]: log.head() as ChainHead }
    expect(checkpoint[chain]).toEqual({ seq: 10, hash: real[9]?.hash })

    const forged = forgeWithout(real, 4)
    expect(forged).toHaveLength(9)
    // The forged list is a valid chain on its own: only a head reveals it.
    expect(verifyChains(forged)).toMatchObject({ ok: true, problems: [] })
    expect(verifyChains(forged, {}, checkpoint).problems).toEqual([
      `${chain}: events 10..10 are missing (tail deleted)`,
    ])

    // Same count (a forged filler event at the end): the hash of the last event gives it away.
    const sameLength = forgeWithout(real, 4, { i: 9 })
    expect(sameLength).toHaveLength(10)
    expect(verifyChains(sameLength).ok).toBe(true)
    expect(verifyChains(sameLength, {}, checkpoint).problems).toEqual([
      `${chain} #10: does not match the recorded head`,
    ])

    // Done for real in Redis, with the head key left alone: verifyAuditLog uses the head key.
    await replaceStream(store, keys.audit, rows, forged)
    expect((await verifyAuditLog(store)).problems).toEqual([
      `${chain}: events 10..10 are missing (tail deleted)`,
    ])

    // An attacker who also rewrites the head key is still caught by a checkpoint from stdout.
    await store.redis.set(keys.auditHead(chain), `9:${forged[8]?.hash}`)
    expect((await verifyAuditLog(store)).ok).toBe(true)
    expect((await verifyAuditLog(store, checkpoint)).problems).toEqual([
      `${chain}: events 10..10 are missing (tail deleted)`,
    ])
  })

  it('a checkpoint catches a forgery even when the rewritten head has the same or a later seq', async () => {
    const { store, log, chain, rows, keys } = await tenEvents()
    const real = rows.map((r) => r.event)
    const checkpoint: Record<string, ChainHead> = { [chain]: log.head() as ChainHead }

    // Same length, head key rewritten to the forged last event.
    const sameLength = forgeWithout(real, 4, { i: 9 })
    await replaceStream(store, keys.audit, rows, sameLength)
    expect((await verifyAuditLog(store)).problems).toEqual([`${chain} #10: does not match the recorded head`])
    await store.redis.set(keys.auditHead(chain), `10:${sameLength[9]?.hash}`)
    expect((await verifyAuditLog(store)).ok).toBe(true)
    expect((await verifyAuditLog(store, checkpoint)).problems).toEqual([
      `${chain} #10: does not match the recorded head`,
    ])

    // Longer than the checkpoint (the broker went on writing after it): the checkpoint still binds #10.
    const longer = [...sameLength]
    for (let i = 0; i < 3; i++) {
      const { hash, ...last } = longer.at(-1) as AuditEvent
      longer.push(rehash({ ...last, seq: last.seq + 1, prev_hash: hash, details: { i: 10 + i } }))
    }
    await replaceStream(store, keys.audit, await readAll(store), longer)
    await store.redis.set(keys.auditHead(chain), `13:${longer[12]?.hash}`)
    expect((await verifyAuditLog(store)).ok).toBe(true)
    expect((await verifyAuditLog(store, checkpoint)).problems).toEqual([
      `${chain} #10: does not match the recorded head`,
    ])
  })
})

// ---------------------------------------------------------------------------------------------

describe('checkpoints', () => {
  it('writes the head as a checkpoint line, and only when it changed', async () => {
    const store = createMemoryStore()
    const { log, lines, clock } = newLog(store)
    log.checkpoint()
    expect(lines).toEqual([]) // nothing recorded yet: no checkpoint

    await recordN(log, 3)
    clock.advance(5000)
    log.checkpoint()
    expect(lines).toHaveLength(4)
    const cp = JSON.parse(lines[3] as string) as Record<string, unknown>
    const head = (await events(store)).at(-1) as AuditEvent
    expect(cp).toEqual({
      type: 'audit.checkpoint',
      chain: log.chain,
      seq: 3,
      hash: head.hash,
      at: iso(clock.now()),
    })
    expect(await store.auditHead(log.chain)).toEqual({ seq: cp['seq'], hash: cp['hash'] })

    log.checkpoint()
    log.checkpoint()
    expect(lines).toHaveLength(4) // unchanged head: not repeated

    await log.record({ type: 'more', actor: 'x' })
    log.checkpoint()
    expect(lines).toHaveLength(6)
    expect(JSON.parse(lines[5] as string)).toMatchObject({
      type: 'audit.checkpoint',
      seq: 4,
      hash: log.head()?.hash,
    })

    log.close() // close writes a final checkpoint only if the head moved
    expect(lines).toHaveLength(6)
  })

  it('checkpoints on its timer and on close', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    try {
      const store = createMemoryStore()
      const { log, lines } = newLog(store, { checkpointEveryMs: 60_000 })
      await recordN(log, 2)
      vi.advanceTimersByTime(59_999)
      expect(lines).toHaveLength(2)
      vi.advanceTimersByTime(1)
      expect(JSON.parse(lines[2] as string)).toMatchObject({ type: 'audit.checkpoint', seq: 2 })
      vi.advanceTimersByTime(600_000)
      expect(lines).toHaveLength(3)
      await recordN(log, 1)
      log.close()
      expect(JSON.parse(lines[4] as string)).toMatchObject({ type: 'audit.checkpoint', seq: 3 })
      vi.advanceTimersByTime(600_000)
      expect(lines).toHaveLength(5)
    } finally {
      vi.useRealTimers()
    }
  })

  it('writes nothing when stdout is off', async () => {
    const store = createMemoryStore()
    const { log } = newLog(store, { out: null })
    await recordN(log, 2)
    log.checkpoint()
    expect((await events(store)).length).toBe(2)
  })
})

// ---------------------------------------------------------------------------------------------

describe('GET /v1/audit and /v1/audit/verify', () => {
  let t: TestBroker
  let sessionId: string
  let otherId: string
  beforeAll(async () => {
    t = await testBroker()
    const api = client(t.app, t.keys)
    sessionId = (await api.issue('build-bot')).session.id
    expect((await api.del(`/v1/sessions/${sessionId}`, 'build-bot')).body.session.status).toBe('revoked')
    otherId = (await api.issue('other-bot')).session.id
  })
  afterAll(async () => t.close())

  const get = (url: string, who: 'ops' | 'alice' | 'bob' | null = 'ops') =>
    t.app.inject({ method: 'GET', url, headers: who ? t.as(who) : {} })

  it('returns events newest first with the documented fields', async () => {
    const r = await get('/v1/audit')
    expect(r.statusCode, r.body).toBe(200)
    const list = r.json().events as AuditEvent[]
    const fields = ['actor', 'at', 'chain', 'details', 'hash', 'prev_hash', 'seq', 'session_id', 'type']
    for (const e of list) {
      expect(Object.keys(e).sort()).toEqual(fields)
      expect(e.chain).toBe(t.broker.chain)
      expect(e.at).toBe(new Date(e.at).toISOString())
      expect(e.hash).toBe(expectedHash(e))
    }
    expect(list.map((e) => e.seq)).toEqual([...list.map((e) => e.seq)].sort((a, b) => b - a))
    const chain = [...list].reverse()
    expectChain(chain)
    // A request granted at once is one event (session.issued carries the request and decision).
    expect(chain.map((e) => e.type)).toEqual([
      'broker.started',
      'session.issued',
      'session.revoked',
      'session.issued',
    ])
    expect(chain[1]?.details).toMatchObject({
      decision: expect.stringMatching(/^allowed by/),
      approvals_required: 0,
    })
    expect(chain[0]).toMatchObject({ actor: 'airlock', session_id: null, prev_hash: ZERO_HASH })
    expect(chain[2]).toMatchObject({
      actor: 'build-bot',
      session_id: sessionId,
      details: { agent: 'build-bot', from: 'active' },
    })
    // The stdout copy holds the same events.
    expect(eventLines(t.audit)).toEqual(chain)

    const one = await get('/v1/audit?limit=1')
    expect((one.json().events as AuditEvent[]).map((e) => e.seq)).toEqual([list[0]?.seq])
    const future = await get(`/v1/audit?since=${encodeURIComponent('2999-01-01T00:00:00Z')}`)
    expect(future.json()).toEqual({ events: [] })
  })

  it('filters by session_id and agent', async () => {
    const bySession = (await get(`/v1/audit?session_id=${sessionId}`)).json().events as AuditEvent[]
    expect(bySession.map((e) => e.type)).toEqual(['session.revoked', 'session.issued'])
    expect(bySession.every((e) => e.session_id === sessionId)).toBe(true)

    const byAgent = (await get('/v1/audit?agent=other-bot')).json().events as AuditEvent[]
    expect(byAgent.map((e) => e.type)).toEqual(['session.issued'])
    expect(byAgent.every((e) => e.session_id === otherId)).toBe(true)

    const build = (await get('/v1/audit?agent=build-bot')).json().events as AuditEvent[]
    expect(build.map((e) => e.session_id)).toEqual([sessionId, sessionId])

    expect((await get('/v1/audit?agent=nobody')).json()).toEqual({ events: [] })
    expect((await get('/v1/audit?session_id=ses_doesnotexist000000000')).json()).toEqual({ events: [] })
  })

  it('verifies the log', async () => {
    const r = await get('/v1/audit/verify')
    expect(r.statusCode, r.body).toBe(200)
    expect(r.json()).toEqual({
      ok: true,
      events: 4,
      chains: [{ chain: t.broker.chain, first: 1, last: 4 }],
      problems: [],
    })
    expect((await get('/v1/audit/verify', 'bob')).statusCode).toBe(200) // bob is an operator too
  })

  it('is for operators only', async () => {
    for (const url of ['/v1/audit', '/v1/audit/verify']) {
      const alice = await get(url, 'alice')
      expect(alice.statusCode).toBe(403)
      expect(alice.json()).toMatchObject({ error: 'forbidden' })
      const agent = await t.app.inject({ method: 'GET', url, headers: t.as('build-bot') })
      expect(agent.statusCode).toBe(403)
      const anon = await get(url, null)
      expect(anon.statusCode).toBe(401)
      expect(anon.json()).toMatchObject({ error: 'unauthenticated' })
      const bad = await t.app.inject({ method: 'GET', url, headers: { authorization: 'Bearer ak_nope' } })
      expect(bad.statusCode).toBe(401)
    }
  })

  it('rejects a malformed query with 400', async () => {
    const r = await get('/v1/audit?limit=abc')
    expect(r.statusCode).toBe(400)
    expect(r.json()).toMatchObject({ error: 'invalid_request' })
    // Out of range is refused like the sessions list's limit, not quietly clamped.
    for (const limit of ['0', '1001', '2.5'])
      expect((await get(`/v1/audit?limit=${limit}`)).statusCode).toBe(400)
    expect((await get('/v1/audit?bogus=1')).statusCode).toBe(400)
  })
})
