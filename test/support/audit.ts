// Helpers of the audit tests: an independent canonical JSON and hash, chain assertions, reading
// the stored log, and an audit writer on a test clock whose lines are kept.
import { createHash, randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { afterEach, expect, inject } from 'vitest'
import { hashEvent, ZERO_HASH, type AuditEvent } from '../../src/audit/chain.js'
import { createAuditLog, type AuditLog, type AuditLogDeps } from '../../src/audit/log.js'
import { redisKeys } from '../../src/store/keys.js'
import { createRedisStore, type RedisStore } from '../../src/store/redis.js'
import type { AuditStore } from '../../src/store/types.js'
import { deletePrefix, TestClock } from '../helper.js'

export const HOUR = 3_600_000

/** An independent canonical JSON (not src/audit/chain.ts): sorted keys, no whitespace. */
export const canon = (v: unknown): string => {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canon(x))).join(',')}]`
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canon(x)}`).join(',')}}`
  }
  return JSON.stringify(v)
}
export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
/** The documented hash, recomputed without hashEvent. */
export const expectedHash = (e: AuditEvent): string => {
  const { hash: _hash, ...rest } = e
  return sha256(canon(rest))
}

/** Asserts one contiguous, correctly linked chain starting at `from` (after `prev`). */
export function expectChain(events: AuditEvent[], from = 1, prev = ZERO_HASH) {
  events.forEach((e, i) => {
    expect(e.seq).toBe(from + i)
    expect(e.prev_hash).toBe(i === 0 ? prev : events[i - 1]?.hash)
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(e.hash).toBe(expectedHash(e))
  })
}

export async function readAll(store: AuditStore): Promise<{ pos: string; event: AuditEvent }[]> {
  const out: { pos: string; event: AuditEvent }[] = []
  let after: string | undefined
  for (;;) {
    const rows = await store.readAudit({ afterPos: after, count: 1000 })
    if (rows.length === 0) return out
    for (const r of rows) out.push({ pos: r.pos, event: JSON.parse(r.json) as AuditEvent })
    after = rows.at(-1)?.pos
  }
}
export const events = async (store: AuditStore) => (await readAll(store)).map((r) => r.event)

/** A fresh event with the correct hash (what an attacker can compute). */
export const rehash = (e: Omit<AuditEvent, 'hash'>): AuditEvent => ({ ...e, hash: hashEvent(e) })

export const redisUrl = inject('redisUrl')
export const cleanups: (() => Promise<void>)[] = []
/** Runs the cleanups after each test of the file that calls it. */
export const useCleanups = () =>
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })

export async function newRedisStore(): Promise<{ store: RedisStore; prefix: string }> {
  const prefix = `airlock-test:audit:${randomBytes(6).toString('hex')}:`
  const store = await createRedisStore(redisUrl, prefix)
  cleanups.push(async () => {
    await store.close()
    await deletePrefix(redisUrl, prefix)
  })
  return { store, prefix }
}

export interface Harness {
  log: AuditLog
  lines: string[]
  clock: TestClock
  failures: unknown[]
}

export function newLog(store: AuditStore, over: Partial<AuditLogDeps> = {}): Harness {
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

export const eventLines = (lines: string[]) =>
  lines.map((l) => JSON.parse(l) as { type: string }).filter((l) => l.type !== 'audit.checkpoint')

export async function recordN(log: AuditLog, n: number, from = 0) {
  for (let i = from; i < from + n; i++) {
    await log.record({ type: 'test.event', actor: 'tester', session_id: `ses_${i}`, details: { i } })
  }
}

/**
 * Makes every audit append of `chain` fail inside Redis, before it writes anything: the chain's
 * head key turns into a hash, so the append script's first read of it is refused (WRONGTYPE).
 * Session writes do not touch it. Returns the undo.
 */
export async function breakAuditHead(
  admin: Redis,
  prefix: string,
  chain: string,
): Promise<() => Promise<void>> {
  const head = redisKeys(prefix).auditHead(chain)
  const kept = await admin.get(head)
  expect(kept).not.toBeNull()
  await admin.multi().del(head).hset(head, 'broken', '1').exec()
  return async () => {
    await admin
      .multi()
      .del(head)
      .set(head, kept as string)
      .exec()
  }
}
