// Tamper detection on a Redis-backed log: edits, deletions, a deleted tail, trimming with anchors,
// re-chained forgeries caught by the recorded head and by stdout checkpoints, and the CLI's exit codes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { verifyChains, ZERO_HASH, type AuditEvent } from '../../src/audit/chain.js'
import { queryAudit, readAuditEvent, verifyAuditLog } from '../../src/audit/read.js'
import { auditVerify } from '../../src/cli/audit-verify.js'
import { redisKeys } from '../../src/store/keys.js'
import type { RedisStore } from '../../src/store/redis.js'
import type { ChainHead } from '../../src/store/types.js'
import { newKeys, testConfigYaml } from '../support/fixtures.js'
import {
  cleanups,
  events,
  expectChain,
  newLog,
  newRedisStore,
  readAll,
  recordN,
  redisUrl,
  rehash,
  useCleanups,
} from '../support/audit.js'

useCleanups()

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
    expect(await store.trimAudit(lastMs + 1, readAuditEvent)).toBe(10)
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

  it('events left at or before an anchor still verify: a forged anchor cannot cover an edit', async () => {
    const { store, log, chain, rows, keys } = await tenEvents()
    const real = rows.map((r) => r.event)
    const checkpoint: Record<string, ChainHead> = { [chain]: log.head() as ChainHead }
    // An anchor at the head (as a trim that stopped before its delete leaves) and event 4 edited.
    await store.redis.hset(keys.auditAnchors, chain, `10:${real[9]?.hash}`)
    const edited = { ...(real[3] as AuditEvent), actor: 'someone-else' }
    await replaceStream(
      store,
      keys.audit,
      rows,
      real.map((e, i) => (i === 3 ? edited : e)),
    )
    expect((await verifyAuditLog(store, checkpoint)).problems).toEqual([
      `${chain} #4: content does not match its hash (edited)`,
    ])

    // Re-chained from the edit on: the anchor's hash gives it away.
    const forged = [...real.slice(0, 3)]
    for (const e of real.slice(3)) {
      const { hash: _h, ...rest } = e
      forged.push(
        rehash({ ...rest, prev_hash: forged.at(-1)?.hash as string, ...(e.seq === 4 ? { actor: 'x' } : {}) }),
      )
    }
    await replaceStream(store, keys.audit, await readAll(store), forged)
    await store.redis.set(keys.auditHead(chain), `10:${forged[9]?.hash}`)
    expect((await verifyAuditLog(store)).problems).toEqual([
      `${chain} #10: does not match its retention anchor`,
    ])
    // Or the re-chained tail left out: what the anchor says was kept is missing.
    await replaceStream(store, keys.audit, await readAll(store), forged.slice(0, 4))
    expect((await verifyAuditLog(store)).problems).toEqual([`${chain}: events 5..10 are missing (deleted)`])

    // Genuine leftovers (a trim that stopped between its anchor and its delete) verify.
    await replaceStream(store, keys.audit, await readAll(store), real.slice(5))
    await store.redis.set(keys.auditHead(chain), `10:${real[9]?.hash}`)
    expect(await verifyAuditLog(store, checkpoint)).toMatchObject({ ok: true, problems: [] })
  })

  it('a stream entry that is not an audit event is a problem, not a failed verification', async () => {
    const { store, keys, chain } = await tenEvents()
    const garbage = await store.redis.xadd(keys.audit, '*', 'e', 'not json')
    const shapeless = await store.redis.xadd(keys.audit, '*', 'e', 'null')
    // A compact entry cut short (its format byte, then too few bytes).
    const truncated = await store.redis.xadd(keys.audit, '*', 'e', Buffer.from([1, 0, 1, 2]))
    const v = await verifyAuditLog(store)
    expect(v).toMatchObject({ ok: false, events: 10, chains: [{ chain, first: 1, last: 10 }] })
    expect(v.problems).toEqual([
      `stream entry ${garbage}: not an audit event`,
      `stream entry ${shapeless}: not an audit event`,
      `stream entry ${truncated}: not an audit event`,
    ])
  })

  it('entries that hold no event are skipped by readers and deleted by trimming, not fatal to them', async () => {
    const { store, keys, chain, rows } = await tenEvents()
    await store.redis.xadd(keys.audit, '*', 'e', 'not json')
    await store.redis.xadd(keys.audit, '*', 'e', Buffer.from([1, 0, 1, 2]))
    const newest = await queryAudit(store, { limit: 100 })
    expect(newest.map((e) => e.seq)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    const stored = await store.readAudit({ count: 100 })
    const lastMs = Number(stored.at(-1)?.pos.split('-')[0])
    expect(await store.trimAudit(lastMs + 1, readAuditEvent)).toBe(12)
    expect(await store.auditAnchors()).toEqual({ [chain]: { seq: 10, hash: rows[9]?.event.hash } })
  })

  it('trimming everything leaves a log that still verifies', async () => {
    const { store, chain, rows } = await tenEvents()
    const lastMs = Number(rows[9]?.pos.split('-')[0])
    expect(await store.trimAudit(lastMs + 1, readAuditEvent)).toBe(10)
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
