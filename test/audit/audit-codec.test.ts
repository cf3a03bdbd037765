// The compact form the Redis store keeps audit events in: the writer's events come back byte for
// byte (their hash chain still verifies), anything else is kept as its text, and events stored as
// JSON text before the compact form existed still read.
import { describe, expect, it } from 'vitest'
import { sealEvent, ZERO_HASH } from '../../src/audit/chain.js'
import { decodeStored, encodeEvent, encodeParts, storedEvent } from '../../src/store/audit-codec.js'
import type { RedisStore } from '../../src/store/redis.js'
import { localRedisKind } from '../support/store-kinds.js'

const DAY = 86_400_000

const body = (over: Record<string, unknown> = {}) => ({
  chain: 'ch_xlAzrADnmMil',
  seq: 2,
  at: '2026-12-02T14:15:27.586Z',
  type: 'session.issued',
  actor: 'build-bot',
  session_id: 'ses_iH83xzOuz2zbpPJEgG2Qnw' as string | null,
  details: {
    agent: 'build-bot',
    decision: 'allowed by "bots work freely in staging"',
    environment: 'staging',
    task_description: 'rotate staging cache \u00e9\u{1f511}',
    ttl_seconds: 1,
  } as Record<string, unknown>,
  prev_hash: ZERO_HASH,
  ...over,
})
/** The fields the writer hands the store with the line of `b`. */
const partsOf = (b: ReturnType<typeof body>) => {
  const { parts } = sealEvent(b)
  if (!parts) throw new Error('the writer hands no fields for this event')
  return parts
}
const roundTrip = (line: string) => {
  const stored = storedEvent(line)
  return decodeStored(typeof stored === 'string' ? Buffer.from(stored) : stored)
}

describe('stored audit events', () => {
  it("keeps the writer's events compactly and gives back their exact text", () => {
    const lines = [
      sealEvent(body()).line,
      sealEvent(body({ session_id: null, seq: 2 ** 40, details: {} })).line,
      sealEvent(body({ details: { nested: { prev_hash: 'x', seq: 1 }, list: [1, 'a,"b"'] } })).line,
      sealEvent(body({ actor: 'ops \u00e9', type: 't', chain: '\u00e9\u{1f511}' })).line,
    ]
    for (const line of lines) {
      const compact = encodeEvent(line)
      expect(compact, line).not.toBeNull()
      expect(compact!.length).toBeLessThan(Buffer.byteLength(line) * 0.75)
      expect(roundTrip(line)).toBe(line)
    }
  })

  it('keeps an event of any other layout as its text', () => {
    const sealed = sealEvent(body())
    const others = [
      // Keys in another order, an `at` that is not the ISO form of its ms, upper-case hex.
      JSON.stringify({ ...body(), hash: sealed.hash }),
      sealed.line.replace('"at":"2026-12-02T14:15:27.586Z"', '"at":"2026-12-02T14:15:27Z"'),
      sealed.line.replace(`"hash":"${sealed.hash}"`, `"hash":"${sealed.hash.toUpperCase()}"`),
      sealed.line.replace('"seq":2', '"seq":2.5'),
      // Top-level strings holding escapes.
      sealEvent(body({ actor: 'ops "quoted"', type: 't\n' })).line,
      `${sealed.line} `,
      'not json',
    ]
    for (const line of others) {
      expect(encodeEvent(line), line).toBeNull()
      expect(storedEvent(line)).toBe(line)
      expect(roundTrip(line)).toBe(line)
    }
  })

  it("keeps the writer's fields exactly as it keeps their line", () => {
    const bodies = [
      body(),
      body({ session_id: null, seq: 2 ** 40, details: {} }),
      body({ details: { nested: { prev_hash: 'x', seq: 1 }, list: [1, 'a,"b"'], line: 'a\nb' } }),
      body({ actor: 'ops \u00e9', type: 't', chain: '\u00e9\u{1f511}' }),
      // Escapes in the top-level strings, a lone surrogate, hex that is not the writer's: text form.
      body({ actor: 'ops "quoted"', type: 't\n' }),
      body({ session_id: 'ses_\ud800' }),
      body({ prev_hash: 'A'.repeat(64) }),
    ]
    for (const b of bodies) {
      const line = sealEvent(b).line
      expect(storedEvent({ line, parts: partsOf(b) }), line).toEqual(storedEvent(line))
    }
    expect(bodies.map((b) => typeof storedEvent(sealEvent(b).line))).toEqual([
      'object',
      'object',
      'object',
      'object',
      'string',
      'string',
      'string',
    ])
    expect(encodeParts({ ...partsOf(body()), at: '2026-12-02T14:15:27Z' })).toBeNull()
    expect(encodeParts({ ...partsOf(body()), at: 'not a time' })).toBeNull()
    expect(encodeParts({ ...partsOf(body()), seq: -1 })).toBeNull()
  })

  it('reads events stored as JSON text', () => {
    const line = sealEvent(body()).line
    expect(decodeStored(Buffer.from(line))).toBe(line)
  })
})

describe('the Redis store keeps audit events compactly', () => {
  it('reads back the exact lines, old JSON entries among them, and trims by them', async () => {
    const fx = await localRedisKind.open()
    try {
      const store = fx.store as RedisStore
      const a = sealEvent(body({ seq: 1 }))
      const b = sealEvent(body({ seq: 2, prev_hash: a.hash }))
      const c = sealEvent(body({ seq: 3, prev_hash: b.hash }))
      expect(await store.appendAudit('ch_xlAzrADnmMil', null, { seq: 1, hash: a.hash }, [a.line], DAY)).toBe(
        'ok',
      )
      // An entry written before the compact form: JSON text in the same field.
      const stream = ((await store.redis.keys('*{al}:audit')) as string[])[0] as string
      await store.redis.xadd(stream, '*', 'e', b.line)
      await store.redis.set(
        ((await store.redis.keys('*{al}:ah:ch_xlAzrADnmMil')) as string[])[0] as string,
        `2:${b.hash}`,
      )
      const head = { seq: 2, hash: b.hash }
      expect(await store.appendAudit('ch_xlAzrADnmMil', head, { seq: 3, hash: c.hash }, [c.line], DAY)).toBe(
        'ok',
      )

      const raw = await store.redis.xrangeBuffer(stream, '-', '+')
      expect(raw.map(([, f]) => f[1]![0])).toEqual([1, '{'.charCodeAt(0), 1])
      expect(raw[0]![1][1]!.length).toBeLessThan(Buffer.byteLength(a.line) * 0.6)
      expect((await store.readAudit({ count: 10 })).map((e) => e.json)).toEqual([a.line, b.line, c.line])
      expect((await store.readAudit({ count: 10, reverse: true })).map((e) => e.json)).toEqual([
        c.line,
        b.line,
        a.line,
      ])
      const seen: string[] = []
      const anchorOf = (json: string) => {
        seen.push(json)
        const e = JSON.parse(json) as { chain: string; seq: number; hash: string }
        return { chain: e.chain, seq: e.seq, hash: e.hash }
      }
      expect(await store.trimAudit((await fx.passAuditTime()) + 1, anchorOf)).toBe(3)
      expect(seen).toEqual([a.line, b.line, c.line])
      expect(await store.auditAnchors()).toEqual({ ch_xlAzrADnmMil: { seq: 3, hash: c.hash } })
    } finally {
      await fx.close()
    }
  })
})
