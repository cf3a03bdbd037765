// The audit log in Redis: a stream of events, one head key per chain, and the anchors trimming
// leaves. An append may create or change sessions in the same script (the session store's
// creates, the sweeper's expiries), checked like createSession and casSession check them; the
// sessions it creates are announced on the change feed by the script itself (no extra command).
import { isFinal } from '../../domain/status.js'
import { decodeStored, storedEvent } from '../audit-codec.js'
import { parseHead, storedRecord } from '../codec.js'
import { recordExpiry } from '../keys.js'
import * as lua from '../scripts.js'
import type { AuditStore, StoredAuditEvent, WriteResult } from '../types.js'
import { fromList, guard, type RedisContext } from './context.js'

/** The JSON of a stream entry's event (its one field, `e`, in either stored form). */
function readEvent(fields: Buffer[]): string {
  try {
    return fields[1] ? decodeStored(fields[1]) : ''
  } catch {
    // A compact entry cut short holds no event: readers report it (it is not Redis failing).
    return ''
  }
}

export function redisAudit(ctx: RedisContext): AuditStore {
  const { redis, k, profiles } = ctx
  const { recLockKeys } = ctx
  const appendScript = ctx.acked('alAppendAudit', lua.APPEND_AUDIT)

  return {
    auditHead: (chain) => guard('audit', async () => parseHead(await redis.get(k.auditHead(chain)))),
    appendAudit: (chain, expected, next, events, retentionMs, creates) =>
      guard('audit append', async () => {
        const sessions = creates?.sessions ?? []
        const updates = creates?.updates ?? []
        const head = [
          expected === null ? '' : `${expected.seq}:${expected.hash}`,
          `${next.seq}:${next.hash}`,
          retentionMs,
          events.length,
          sessions.length,
        ]
        const args: (string | number | Buffer)[] = events.map(storedEvent)
        const profiled: Parameters<typeof profiles.save>[0] = []
        for (const { rec, retentionMs: keep } of sessions) {
          const pending = rec.status === 'pending_approval' ? '1' : '0'
          const pxat = recordExpiry(rec.expires_at, keep)
          const packed = storedRecord(rec)
          profiled.push({ packed, pxat })
          args.push(packed.text, rec.id, rec.expires_at, pxat, rec.created_at, pending)
        }
        for (const { rec, expectedV, retentionMs: keep, from, statusOnly, checkLocks } of updates) {
          const deadline = isFinal(rec.status) ? '' : rec.expires_at
          const pending = rec.status === 'pending_approval' ? '1' : '0'
          const pxat = recordExpiry(rec.expires_at, keep)
          // '=status': the script rewrites the version and status of the stored record in place
          // (its profile and expiry stay as they are).
          let text = `=${rec.status}`
          if (!statusOnly || rec.v !== expectedV + 1) {
            const packed = storedRecord(rec)
            profiled.push({ packed, pxat })
            text = packed.text
          }
          args.push(expectedV, text, rec.id, deadline, pxat, pending, fromList(from), checkLocks ? '1' : '0')
        }
        await profiles.save(profiled)
        const now = creates?.now ?? 0
        const shared = [k.auditHead(chain), k.audit, k.deadlines, k.created, k.pending, k.locks]
        const call = async (withLocks: boolean) => {
          const keys = [...shared]
          for (const { rec } of sessions) {
            keys.push(k.session(rec.id))
            if (withLocks) keys.push(...recLockKeys(rec).slice(1))
          }
          for (const { rec } of updates) {
            keys.push(k.session(rec.id))
            if (withLocks) keys.push(...recLockKeys(rec).slice(1))
          }
          const flags = [withLocks ? '1' : '0', now, updates.length]
          return (await appendScript(keys.length, ...keys, ...head, ...flags, ...args, k.changes)) as
            'ok' | 'conflict' | 'need_locks' | (number | string)[]
        }
        let r = await call(false)
        if (r === 'need_locks') r = await call(true)
        if (r === 'need_locks') throw new Error('the append script asked for lock keys it was given')
        if (typeof r === 'string') return r
        const refused: { index: number; result: Exclude<WriteResult, 'ok'> }[] = []
        for (let i = 0; i < r.length; i += 2)
          refused.push({ index: Number(r[i]), result: r[i + 1] as Exclude<WriteResult, 'ok'> })
        return { refused }
      }),
    readAudit: ({ afterPos, sinceMs, count, reverse }) =>
      guard('audit read', async () => {
        let rows: [Buffer, Buffer[]][]
        if (reverse) {
          // Nothing is older than the first position (and Redis refuses the interval).
          if (afterPos !== undefined && /^0+-0+$/.test(afterPos)) return []
          const end = afterPos ? `(${afterPos}` : '+'
          rows = await redis.xrevrangeBuffer(
            k.audit,
            end,
            sinceMs === undefined ? '-' : String(sinceMs),
            'COUNT',
            count,
          )
        } else {
          const start = afterPos ? `(${afterPos}` : sinceMs === undefined ? '-' : String(sinceMs)
          rows = await redis.xrangeBuffer(k.audit, start, '+', 'COUNT', count)
        }
        return rows.map(([pos, fields]): StoredAuditEvent => ({
          pos: pos.toString(),
          json: readEvent(fields),
        }))
      }),
    trimAudit: (beforeMs, anchorOf, limit = Infinity) =>
      guard('audit trim', async () => {
        let total = 0
        while (total < limit) {
          // `(ms-0`, not `(ms`: an incomplete ID means ms-<max seq>, which would trim events stamped at beforeMs.
          const rows = await redis.xrangeBuffer(k.audit, '-', `(${beforeMs}-0`, 'COUNT', 500)
          if (rows.length === 0) return total
          const last = new Map<string, string>()
          for (const [, f] of rows) {
            const a = anchorOf(readEvent(f))
            if (a) last.set(a.chain, `${a.seq}:${a.hash}`)
          }
          // Anchor first, delete second: a crash in between leaves events that verify skips.
          if (last.size > 0) await redis.hset(k.auditAnchors, Object.fromEntries(last))
          total += await redis.xdel(k.audit, ...rows.map(([id]) => id.toString()))
        }
        return total
      }),
    auditAnchors: () =>
      guard('audit read', async () => {
        const raw = await redis.hgetall(k.auditAnchors)
        return Object.fromEntries(
          Object.entries(raw).map(([c, h]) => [c, parseHead(h) as { seq: number; hash: string }]),
        )
      }),
  }
}
