// The group-commit audit writer against both stores: one contiguous chain, failure and resync,
// a lost head (a new linked chain), and checkpoints on stdout.
import { describe, expect, it, vi } from 'vitest'
import { verifyChains, ZERO_HASH, type AuditEvent } from '../../src/audit/chain.js'
import { verifyAuditLog } from '../../src/audit/read.js'
import { iso } from '../../src/clock.js'
import { AirlockError, StoreUnavailableError } from '../../src/errors.js'
import { redisKeys } from '../../src/store/keys.js'
import { createMemoryStore } from '../../src/store/memory.js'
import type { ChainHead, Store } from '../../src/store/types.js'
import {
  eventLines,
  events,
  expectChain,
  newLog,
  newRedisStore,
  recordN,
  useCleanups,
} from '../support/audit.js'

useCleanups()

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

  it('prints the events of an append whose reply was lost once the store shows they landed', async () => {
    const store = createMemoryStore()
    const { log, lines } = newLog(store)
    await recordN(log, 2)
    const real = store.appendAudit.bind(store)
    vi.spyOn(store, 'appendAudit').mockImplementationOnce(async (...args) => {
      expect(await real(...args)).toBe('ok')
      throw new StoreUnavailableError('Redis audit append failed: Command timed out')
    })
    await expect(log.record({ type: 'landed', actor: 'tester' })).rejects.toMatchObject({
      code: 'unavailable',
    })
    await recordN(log, 1, 10)
    // stdout is the copy that outlives Redis: it holds every stored event, once, in order.
    expect(eventLines(lines)).toEqual(await events(store))
  })

  it('writes one chain_continued event when the first append of the new chain landed unanswered', async () => {
    const { store, prefix } = await newRedisStore()
    const { log, lines } = newLog(store)
    const first = log.chain
    await recordN(log, 2)
    await store.redis.del(redisKeys(prefix).auditHead(first))
    const real = store.appendAudit.bind(store)
    vi.spyOn(store, 'appendAudit')
      .mockImplementationOnce(real) // the old chain's append: 'conflict', then the loss is seen
      .mockImplementationOnce(async (...args) => {
        expect(await real(...args)).toBe('ok')
        throw new StoreUnavailableError('Redis audit append failed: Command timed out')
      })
    await expect(log.record({ type: 'landed', actor: 'tester' })).rejects.toMatchObject({
      code: 'unavailable',
    })
    await recordN(log, 1, 10)
    const stored = (await events(store)).filter((e) => e.chain === log.chain)
    expect(stored.map((e) => [e.seq, e.type])).toEqual([
      [1, 'audit.chain_continued'],
      [2, 'landed'],
      [3, 'test.event'],
    ])
    expectChain(stored)
    expect(eventLines(lines)).toEqual(await events(store))
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
