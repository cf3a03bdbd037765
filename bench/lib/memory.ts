// Redis bytes per active session, measured right after the issue run: records (a sample weighed
// with MEMORY USAGE), the two indexes per member, the audit stream per event.
import type { Redis } from 'ioredis'
import { redisKeys } from '../../src/store/keys.js'
import { memoryUsage, usedMemory } from './redis.js'

const SAMPLE_KEYS = 2000

export interface Memory {
  liveSessions: number
  sessionKeys: number
  sampled: number
  recordBytes: number
  deadlinesBytes: number
  createdBytes: number
  indexBytes: number
  totalBytes: number
  usedMemoryDeltaPerSession: number | null
  audit: { events: number; streamBytes: number; bytesPerEvent: number; eventsPerSession: number }
}

/** What to compare against: INFO used_memory and the live sessions before the run. */
export async function memoryBaseline(r: Redis, prefix: string) {
  return { usedBefore: await usedMemory(r), sessionsBefore: await r.zcard(redisKeys(prefix).deadlines) }
}

export async function measureMemory(
  r: Redis,
  prefix: string,
  { usedBefore, sessionsBefore }: { usedBefore: number; sessionsBefore: number },
): Promise<Memory> {
  const k = redisKeys(prefix)
  const usedAfter = await usedMemory(r)
  const liveSessions = await r.zcard(k.deadlines)
  const createdCount = await r.zcard(k.created)

  // Session records: count them all, weigh a sample.
  let cursor = '0'
  let sessionKeys = 0
  let sampledBytes = 0
  let sampled = 0
  do {
    const [next, found] = await r.scan(cursor, 'MATCH', k.session('*'), 'COUNT', 1000)
    cursor = next
    sessionKeys += found.length
    for (const key of found) {
      if (sampled >= SAMPLE_KEYS) break
      sampledBytes += await memoryUsage(r, key)
      sampled++
    }
  } while (cursor !== '0')
  const recordBytes = sampled > 0 ? sampledBytes / sampled : 0
  const deadlinesBytes = liveSessions > 0 ? (await memoryUsage(r, k.deadlines)) / liveSessions : 0
  const createdBytes = createdCount > 0 ? (await memoryUsage(r, k.created)) / createdCount : 0
  const indexBytes = deadlinesBytes + createdBytes

  const events = await r.xlen(k.audit)
  const streamBytes = await memoryUsage(r, k.audit)
  const newSessions = liveSessions - sessionsBefore
  return {
    liveSessions,
    sessionKeys,
    sampled,
    recordBytes,
    deadlinesBytes,
    createdBytes,
    indexBytes,
    totalBytes: recordBytes + indexBytes,
    usedMemoryDeltaPerSession: newSessions > 0 ? (usedAfter - usedBefore) / newSessions : null,
    audit: {
      events,
      streamBytes,
      bytesPerEvent: events > 0 ? streamBytes / events : 0,
      eventsPerSession: liveSessions > 0 ? events / liveSessions : 0,
    },
  }
}
