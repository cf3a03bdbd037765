import { randomBytes } from 'node:crypto'

// 128 random bits, URL- and Redis-key-safe, also valid as an STS RoleSessionName and a PG role suffix.
const rand = (bytes = 16): string => randomBytes(bytes).toString('base64url').replace(/[-_]/g, 'x')

export const newSessionId = (): string => `ses_${rand()}`
export const newLockId = (): string => `lck_${rand(12)}`
export const newChainId = (): string => `ch_${rand(9)}`
export const newJti = (): string => rand()
export const SESSION_ID_RE = /^ses_[A-Za-z0-9]{20,40}$/
