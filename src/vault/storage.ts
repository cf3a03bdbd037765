// Where sealed records live. Redis (shared by every replica, with change notifications) or an
// encrypted file (single node / offline). Both pass test/vault/vault.test.ts's shared suite.
import { watch, type FSWatcher } from 'node:fs'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import { StoreUnavailableError } from '../errors.js'
import { redisKeys } from '../store/keys.js'
import type { RedisConnection } from '../config/types.js'
import { connectRedis, onReconnect, openRedis, openSubscriber, urlConnection } from '../redis/client.js'
import { defineScript } from '../redis/script.js'
import type { SealedRecord } from './crypto.js'

export interface VaultStorage {
  readonly kind: 'redis' | 'file' | 'memory'
  /** The record, or the tombstone (`deleted`) a delete left, or null. */
  get(path: string): Promise<SealedRecord | null>
  /** Every record, no tombstones. */
  list(): Promise<SealedRecord[]>
  /**
   * Writes if the stored version is still `expectedVersion` (0: the path must be absent) and, with
   * `expectedDk`, the stored record is still that one (a record sealed again keeps its version).
   * A tombstone counts as absent (0), but `rec` must have a higher version than it.
   */
  put(rec: SealedRecord, expectedVersion: number, expectedDk?: string): Promise<boolean>
  /**
   * Replaces a record with a tombstone keeping its version (false if there was none), so a
   * secret written again continues the versions and an old ciphertext never matches a new one.
   */
  delete(path: string): Promise<boolean>
  /** Calls back with the path of every change, made by this or any other replica. */
  onChange(listener: (path: string) => void): void
  ping(): Promise<void>
  close(): Promise<void>
}

/** A stored record that is not a sealed record; named by path (the bytes are never quoted). */
export class CorruptRecordError extends Error {
  constructor(readonly path: string) {
    super(`the record of vault secret ${path} is corrupt (not a sealed record)`)
    this.name = 'CorruptRecordError'
  }
}

const parse = (json: string | null | undefined, path: string): SealedRecord | null => {
  if (!json) return null
  try {
    return JSON.parse(json) as SealedRecord
  } catch {
    throw new CorruptRecordError(path)
  }
}

/** How `list` shows a corrupt record, so an operator sees it and can overwrite or delete it. */
const corruptEntry = (path: string): SealedRecord => ({
  v: 1,
  path,
  version: 0,
  kek: '',
  dk: '',
  iv: '',
  tag: '',
  ct: '',
  updated_at: new Date(0).toISOString(),
  updated_by: '(corrupt record)',
})

/** The version a write is compared with (a tombstone is absent), and the floor it must exceed. */
const liveVersion = (r: SealedRecord | undefined) => (!r || r.deleted ? 0 : r.version)
const floorOf = (r: SealedRecord | undefined) => (r?.deleted ? r.version : 0)
const tombstone = (r: SealedRecord): SealedRecord => ({
  ...corruptEntry(r.path),
  v: 2,
  version: r.version,
  updated_by: '',
  deleted: true,
})

/** KEYS: hash. ARGV: path, expected version, json, expected wrapped data key ('' for any), version. */
const PUT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local v = 0
local dk = ''
local floor = 0
if cur then
  local ok, rec = pcall(cjson.decode, cur)
  -- A corrupt record (-1) may be overwritten by a caller who saw it corrupt.
  if ok and type(rec) == 'table' then
    if rec.deleted then
      floor = tonumber(rec.version) or 0
    else
      v = tonumber(rec.version) or 0
      dk = rec.dk
    end
  else
    v = -1
  end
end
if v ~= tonumber(ARGV[2]) then return 0 end
if ARGV[4] ~= '' and dk ~= ARGV[4] then return 0 end
if tonumber(ARGV[5]) <= floor then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`

/** KEYS: hash. ARGV: path, tombstone json (its version is set here, to the record's). */
const DELETE = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local ok, rec = pcall(cjson.decode, cur)
if ok and type(rec) == 'table' then
  if rec.deleted then return 0 end
  local n = tonumber(rec.version)
  if n and n > 0 then
    local t = cjson.decode(ARGV[2])
    t.version = n
    redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(t))
    return 1
  end
end
-- A corrupt record has no version to keep.
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`

export async function redisVaultStorage(
  target: RedisConnection | string,
  prefix: string,
): Promise<VaultStorage> {
  const k = redisKeys(prefix)
  const conn = typeof target === 'string' ? urlConnection(target) : target
  const redis = openRedis(conn)
  await connectRedis(redis, 'Redis for the vault')
  const put = defineScript<number>(redis, 'alVaultPut', PUT, 1)
  const del = defineScript<number>(redis, 'alVaultDelete', DELETE, 1)
  const listeners: ((path: string) => void)[] = []
  // Change notifications need their own connection; they reconnect by themselves.
  const sub = openSubscriber(conn)
  sub.on('message', (_c: string, path: string) => listeners.forEach((l) => l(path)))
  // Changes announced while the subscription was down are lost: everything counts as changed.
  onReconnect(sub, () => listeners.forEach((l) => l('*')))
  await sub.connect().catch(() => {})
  await sub.subscribe(k.vaultChanges).catch(() => {})

  const guard = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f()
    } catch (e) {
      if (e instanceof CorruptRecordError) throw e
      throw new StoreUnavailableError(`vault ${what} failed: ${(e as Error).message}`, e)
    }
  }
  const announce = (path: string) => redis.publish(k.vaultChanges, path).catch(() => {})
  return {
    kind: 'redis',
    get: (path) => guard('read', async () => parse(await redis.hget(k.vault, path), path)),
    list: () =>
      guard('list', async () =>
        Object.entries(await redis.hgetall(k.vault))
          .map(([p, j]) => {
            try {
              return parse(j, p) as SealedRecord
            } catch {
              return corruptEntry(p)
            }
          })
          .filter((r) => !r.deleted),
      ),
    put: (rec, expected, dk = '') =>
      guard('write', async () => {
        const ok = (await put(k.vault, rec.path, expected, JSON.stringify(rec), dk, rec.version)) === 1
        if (ok) await announce(rec.path)
        return ok
      }),
    delete: (path) =>
      guard('delete', async () => {
        const t = JSON.stringify(tombstone({ path, version: 0 } as SealedRecord))
        const ok = (await del(k.vault, path, t)) === 1
        if (ok) await announce(path)
        return ok
      }),
    onChange: (l) => void listeners.push(l),
    ping: () => guard('ping', async () => void (await redis.ping())),
    async close() {
      sub.disconnect()
      redis.disconnect()
    },
  }
}

/** One JSON file of sealed records, rewritten atomically (temp file + rename). One process only. */
export async function fileVaultStorage(path: string): Promise<VaultStorage> {
  const listeners: ((p: string) => void)[] = []
  let queue: Promise<unknown> = Promise.resolve()
  const read = async (): Promise<Record<string, SealedRecord>> => {
    try {
      const doc = JSON.parse(await readFile(path, 'utf8')) as { records?: Record<string, SealedRecord> }
      return doc.records ?? {}
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {}
      throw new StoreUnavailableError(
        `vault file ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'corrupt'})`,
        e,
      )
    }
  }
  const write = async (records: Record<string, SealedRecord>) => {
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
    try {
      await writeFile(tmp, JSON.stringify({ v: 1, records }, null, 1), { mode: 0o600 })
      await rename(tmp, path)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error'
      throw new StoreUnavailableError(`vault file ${path} cannot be written (${code})`, e)
    }
  }
  // Writes are serialised so read-modify-write never loses an update within this process.
  const exclusive = <T>(f: () => Promise<T>): Promise<T> => {
    const run = queue.then(f, f)
    queue = run.catch(() => {})
    return run
  }
  let watcher: FSWatcher | null = null
  try {
    watcher = watch(dirname(path), (_e, name) => {
      if (name === basename(path)) listeners.forEach((l) => l('*'))
    })
    watcher.unref()
  } catch {
    // No watch support: changes from other writers are seen on the next read.
  }
  return {
    kind: 'file',
    get: async (p) => (await read())[p] ?? null,
    list: async () => Object.values(await read()).filter((r) => !r.deleted),
    put: (rec, expected, dk) =>
      exclusive(async () => {
        const all = await read()
        const cur = all[rec.path]
        if (liveVersion(cur) !== expected || rec.version <= floorOf(cur)) return false
        if (dk !== undefined && cur?.dk !== dk) return false
        all[rec.path] = rec
        await write(all)
        listeners.forEach((l) => l(rec.path))
        return true
      }),
    delete: (p) =>
      exclusive(async () => {
        const all = await read()
        const cur = all[p]
        if (!cur || cur.deleted) return false
        all[p] = tombstone(cur)
        await write(all)
        listeners.forEach((l) => l(p))
        return true
      }),
    onChange: (l) => void listeners.push(l),
    ping: async () => void (await read()),
    async close() {
      watcher?.close()
    },
  }
}

/** For `airlock dev` and tests: the same semantics, in memory. */
export function memoryVaultStorage(): VaultStorage {
  const records = new Map<string, SealedRecord>()
  const listeners: ((p: string) => void)[] = []
  return {
    kind: 'memory',
    get: async (p) => records.get(p) ?? null,
    list: async () => [...records.values()].filter((r) => !r.deleted),
    put: async (rec, expected, dk) => {
      const cur = records.get(rec.path)
      if (liveVersion(cur) !== expected || rec.version <= floorOf(cur)) return false
      if (dk !== undefined && cur?.dk !== dk) return false
      records.set(rec.path, rec)
      listeners.forEach((l) => l(rec.path))
      return true
    },
    delete: async (p) => {
      const cur = records.get(p)
      if (!cur || cur.deleted) return false
      records.set(p, tombstone(cur))
      listeners.forEach((l) => l(p))
      return true
    },
    onChange: (l) => void listeners.push(l),
    ping: async () => {},
    close: async () => {},
  }
}
