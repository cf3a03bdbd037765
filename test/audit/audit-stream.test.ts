// Audit verification as a stream: pages read one at a time and verified before the next is read,
// the event loop turning between pages, progress reported (and by the CLI on stderr), and the
// same findings as before on a log written by real brokers' writer to a real Redis.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, inject, it, vi } from 'vitest'
import { hashEvent, ZERO_HASH, type AuditEvent } from '../../src/audit/chain.js'
import { createAuditLog, type AuditLog } from '../../src/audit/log.js'
import { VERIFY_PAGE, verifyAuditLog, type VerifyProgress } from '../../src/audit/read.js'
import { ChainVerifier, verifyChains } from '../../src/audit/verify.js'
import { auditVerify } from '../../src/cli/audit-verify.js'
import { createRedisStore, type RedisStore } from '../../src/store/redis.js'
import type { AuditStore } from '../../src/store/types.js'
import { deletePrefix, TestClock } from '../helper.js'
import { newKeys, testConfigYaml } from '../support/fixtures.js'

const redisUrl = inject('redisUrl')
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function storeWith(
  n: number,
  chains = 1,
): Promise<{ store: RedisStore; prefix: string; logs: AuditLog[] }> {
  const prefix = `airlock-test:auditstream:${randomBytes(6).toString('hex')}:`
  const store = await createRedisStore(redisUrl, prefix)
  cleanups.push(async () => {
    await store.close()
    await deletePrefix(redisUrl, prefix)
  })
  const logs = Array.from({ length: chains }, () =>
    createAuditLog({
      store,
      chain: `ch_${randomBytes(6).toString('hex')}`,
      clock: new TestClock(),
      retentionMs: () => 3_600_000,
      out: null,
      checkpointEveryMs: 3_600_000,
    }),
  )
  cleanups.push(async () => logs.forEach((l) => l.close()))
  // Concurrent records from several chains interleave in the stream.
  const per = Math.ceil(n / chains)
  await Promise.all(
    logs.map((log) =>
      Promise.all(
        Array.from({ length: per }, (_, i) =>
          log.record({ type: 'test.event', actor: 'tester', details: { i } }),
        ),
      ),
    ),
  )
  return { store, prefix, logs }
}

/** The store, counting its reads (a pass-through, not a stand-in). */
function counting(store: AuditStore) {
  const reads = { n: 0 }
  const counted: AuditStore = {
    auditHead: (c) => store.auditHead(c),
    appendAudit: (...a) => store.appendAudit(...a),
    readAudit: (o) => {
      reads.n++
      return store.readAudit(o)
    },
    trimAudit: (...a) => store.trimAudit(...a),
    auditAnchors: () => store.auditAnchors(),
  }
  return { counted, reads }
}

describe('verifyAuditLog streams', () => {
  it('verifies each page before reading the next, yields between pages and reports progress', async () => {
    const N = 2 * VERIFY_PAGE + 500
    const { store, logs } = await storeWith(N, 2)
    const { counted, reads } = counting(store)
    const seen: (VerifyProgress & { reads: number })[] = []
    let ticked = true
    const r = await verifyAuditLog(counted, {}, (p) => {
      // The previous page's setImmediate ran: the event loop turned between two pages.
      expect(ticked).toBe(true)
      ticked = false
      setImmediate(() => (ticked = true))
      seen.push({ ...p, reads: reads.n })
    })
    expect(r).toMatchObject({ ok: true, events: N, problems: [] })
    expect(r.chains.map((c) => [c.first, c.last])).toEqual([
      [1, N / 2],
      [1, N / 2],
    ])
    expect(new Set(r.chains.map((c) => c.chain))).toEqual(new Set(logs.map((l) => l.chain)))
    // One progress report per page, each after exactly one more read: never the whole log at once.
    expect(seen.map((p) => [p.events, p.reads])).toEqual([
      [VERIFY_PAGE, 1],
      [2 * VERIFY_PAGE, 2],
      [N, 3],
    ])
    expect(seen.at(-1)?.chains).toBe(2)
  })

  it('an event appended while verifying is not taken for a deleted tail', async () => {
    const { store, logs } = await storeWith(VERIFY_PAGE + 10)
    const log = logs[0] as AuditLog
    let appended = false
    const r = await verifyAuditLog(store, {}, () => {
      if (appended) return
      appended = true
      void log.record({ type: 'late.event', actor: 'tester' })
    })
    expect(r.problems).toEqual([])
    expect(r.ok).toBe(true)
  })

  it('airlock audit verify --config reports progress on stderr and the result on stdout', async () => {
    const { prefix } = await storeWith(VERIFY_PAGE + 1)
    const dir = mkdtempSync(join(tmpdir(), 'airlock-verify-stream-'))
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'airlock.yaml')
    writeFileSync(file, testConfigYaml(prefix, newKeys()).replace('env:REDIS_URL', `"${redisUrl}"`))
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    try {
      expect(await auditVerify(file)).toBe(0)
      const stderr = err.mock.calls.map((c) => String(c[0])).join('')
      const stdout = out.mock.calls.map((c) => String(c[0])).join('')
      expect(stderr).toMatch(new RegExp(`verifying: ${VERIFY_PAGE} events in 1 chain\\(s\\)`))
      expect(stdout).toContain(`ok: ${VERIFY_PAGE + 1} events verified`)
      expect(stdout).not.toContain('verifying:')
    } finally {
      out.mockRestore()
      err.mockRestore()
    }
  })
})

describe('ChainVerifier, event by event', () => {
  /** A well-formed chain of n events. */
  const chainOf = (n: number, chain = 'ch_a'): AuditEvent[] => {
    const out: AuditEvent[] = []
    let prev = ZERO_HASH
    for (let seq = 1; seq <= n; seq++) {
      const body = {
        chain,
        seq,
        at: '2030-01-01T00:00:00.000Z',
        type: 't',
        actor: 'x',
        session_id: null,
        details: { seq },
        prev_hash: prev,
      }
      const e = { ...body, hash: hashEvent(body) }
      out.push(e)
      prev = e.hash
    }
    return out
  }

  it('events out of stream order link once their predecessor arrives', () => {
    const list = chainOf(6)
    const shuffled = [list[0], list[2], list[3], list[5], list[1], list[4]] as AuditEvent[]
    expect(verifyChains(shuffled)).toEqual({
      ok: true,
      events: 6,
      chains: [{ chain: 'ch_a', first: 1, last: 6 }],
      problems: [],
      notes: [],
    })
  })

  it('a gap, a duplicate and an edit are each reported once', () => {
    const list = chainOf(8)
    const edited = { ...(list[6] as AuditEvent), actor: 'someone-else' }
    const events = [
      ...list.slice(0, 3),
      ...list.slice(4, 6),
      list[1] as AuditEvent,
      edited,
      list[7] as AuditEvent,
    ]
    expect(verifyChains(events).problems).toEqual([
      'ch_a #2: appears again after #3 (duplicated or reordered)',
      'ch_a: events 4..4 are missing (deleted)',
      'ch_a #7: content does not match its hash (edited)',
    ])
  })

  it('checks each set of heads on its own', () => {
    const list = chainOf(5)
    const v = new ChainVerifier({}, [
      { ch_a: { seq: 5, hash: list[4]?.hash as string } },
      { ch_a: { seq: 7, hash: 'x' } },
    ])
    for (const e of list) v.add(e)
    expect(v.finish().problems).toEqual(['ch_a: events 6..7 are missing (tail deleted)'])
  })
})
