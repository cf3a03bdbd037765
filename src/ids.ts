import { randomBytes } from 'node:crypto'

// Random bytes come from a pooled CSPRNG buffer: one randomBytes call serves hundreds of ids,
// instead of one native call per id on the hot path. Each byte is handed out once.
const POOL_SIZE = 8192
let pool = randomBytes(POOL_SIZE)
let offset = 0

function take(n: number): Buffer {
  if (offset + n > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE)
    offset = 0
  }
  const out = pool.subarray(offset, offset + n)
  offset += n
  return out
}

// 128 random bits, URL- and Redis-key-safe, also valid as an STS RoleSessionName and a PG role suffix.
const rand = (bytes = 16): string => take(bytes).toString('base64url').replace(/[-_]/g, 'x')

export const newSessionId = (): string => `ses_${rand()}`
export const newLockId = (): string => `lck_${rand(12)}`
export const newChainId = (): string => `ch_${rand(9)}`
export const newJti = (): string => rand()
export const SESSION_ID_RE = /^ses_[A-Za-z0-9]{20,40}$/

// Request ids only need to be unique per process, not secret: a random process prefix and a counter.
const requestPrefix = `req_${rand(6)}_`
let requestCounter = 0
export const newRequestId = (): string => `${requestPrefix}${(requestCounter++).toString(36)}`
