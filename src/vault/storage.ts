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
  get(path: string): Promise<SealedRecord | null>
  list(): Promise<SealedRecord[]>
  /**
   * Writes if the stored version is still `expectedVersion` (0: the path must be absent) and, with
   * `expectedDk`, the stored record is still that one (a record sealed again keeps its version).
   */
  put(rec: SealedRecord, expectedVersion: number, expectedDk?: string): Promise<boolean>
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

/** KEYS: hash. ARGV: path, expected version, json, expected wrapped data key ('' for any). */
const PUT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local v = 0
local dk = ''
if cur then
  local ok, rec = pcall(cjson.decode, cur)
  -- A corrupt record (-1) may be overwritten by a caller who saw it corrupt.
  if ok and type(rec) == 'table' then
    v = tonumber(rec.version) or 0
    dk = rec.dk
  else
    v = -1
  end
end
if v ~= tonumber(ARGV[2]) then return 0 end
if ARGV[4] ~= '' and dk ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
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
        Object.entries(await redis.hgetall(k.vault)).map(([p, j]) => {
          try {
            return parse(j, p) as SealedRecord
          } catch {
            return corruptEntry(p)
          }
        }),
      ),
    put: (rec, expected, dk = '') =>
      guard('write', async () => {
        const ok = (await put(k.vault, rec.path, expected, JSON.stringify(rec), dk)) === 1
        if (ok) await announce(rec.path)
        return ok
      }),
    delete: (path) =>
      guard('delete', async () => {
        const n = await redis.hdel(k.vault, path)
        if (n > 0) await announce(path)
        return n > 0
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
    await writeFile(tmp, JSON.stringify({ v: 1, records }, null, 1), { mode: 0o600 })
    await rename(tmp, path)
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
    list: async () => Object.values(await read()),
    put: (rec, expected, dk) =>
      exclusive(async () => {
        const all = await read()
        if ((all[rec.path]?.version ?? 0) !== expected) return false
        if (dk !== undefined && all[rec.path]?.dk !== dk) return false
        all[rec.path] = rec
        await write(all)
        listeners.forEach((l) => l(rec.path))
        return true
      }),
    delete: (p) =>
      exclusive(async () => {
        const all = await read()
        if (!all[p]) return false
        delete all[p]
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
    list: async () => [...records.values()],
    put: async (rec, expected, dk) => {
      if ((records.get(rec.path)?.version ?? 0) !== expected) return false
      if (dk !== undefined && records.get(rec.path)?.dk !== dk) return false
      records.set(rec.path, rec)
      listeners.forEach((l) => l(rec.path))
      return true
    },
    delete: async (p) => {
      const had = records.delete(p)
      if (had) listeners.forEach((l) => l(p))
      return had
    },
    onChange: (l) => void listeners.push(l),
    ping: async () => {},
    close: async () => {},
  }
}
