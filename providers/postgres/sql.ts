// SQL text helpers for the statements PostgreSQL cannot parameterise (role and database names in
// DDL, the password verifier in CREATE ROLE). Everything else goes through $n parameters.
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { escapeIdentifier, escapeLiteral } from 'pg'

const noNul = (s: string, what: string): string => {
  // PostgreSQL cannot store NUL in text; refusing it keeps quoting total. The config schema
  // refuses NUL and Airlock's own names have none, so this is a programming error (a plain Error).
  if (s.includes('\0')) throw new Error(`${what} contains a NUL character`)
  return s
}

/** A quoted identifier ("a""b"); safe for any name without NUL. */
export const ident = (name: string): string => escapeIdentifier(noNul(name, 'an identifier'))

/** A quoted string literal ('it''s', or E'..' when it holds backslashes). */
export const literal = (value: string): string => escapeLiteral(noNul(value, 'a literal'))

export const identList = (names: readonly string[]): string => names.map(ident).join(', ')

/** Identifiers are truncated by PostgreSQL at 63 bytes, so longer names would silently alias. */
export const MAX_IDENT_BYTES = 63
export const fitsIdentifier = (s: string): boolean =>
  s.length > 0 && Buffer.byteLength(s) <= MAX_IDENT_BYTES && !s.includes('\0')

/** 32 random bytes: 256 bits, URL-safe without escaping. */
export const newPassword = (): string => randomBytes(32).toString('base64url')

const pbkdf2Async = promisify(pbkdf2)
const SCRAM_ITERATIONS = 4096

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677, as `\password` sends
 * it). Sending the verifier rather than the password keeps the password out of the server's
 * statement log. The password is ASCII, so SASLprep leaves it unchanged.
 */
export async function scramVerifier(password: string): Promise<string> {
  const salt = randomBytes(16)
  const salted = await pbkdf2Async(password, salt, SCRAM_ITERATIONS, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}

export const PLACEHOLDERS = ['group', 'database', 'schemas', 'owner'] as const
export type Placeholder = (typeof PLACEHOLDERS)[number]
const PLACEHOLDER_RE = /\{\{\s*([A-Za-z_]+)\s*\}\}/g

/** Placeholders in a configured statement that this provider does not know. */
export const unknownPlaceholders = (sql: string): string[] =>
  [...sql.matchAll(PLACEHOLDER_RE)]
    .map((m) => m[1] as string)
    .filter((p) => !(PLACEHOLDERS as readonly string[]).includes(p))

/** Fills `{{group}}`-style placeholders with quoted identifiers (`{{schemas}}`: a quoted list). */
export const render = (sql: string, values: Record<Placeholder, string>): string =>
  sql.replace(PLACEHOLDER_RE, (_m, name: string) => values[name as Placeholder])
