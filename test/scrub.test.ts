import { describe, expect, it } from 'vitest'
import { scrub } from '../src/secrets/scrub.js'

describe('scrub', () => {
  it.each([
    [
      'connect failed: postgres://admin:hunter2@db.internal:5432/app',
      'hunter2',
      'postgres://[redacted]@db.internal',
    ],
    ['auth failed password=hunter2 user=x', 'hunter2', 'password=[redacted]'],
    ['{"secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}', 'wJalrXUtnFEMI', '[redacted]'],
    [
      'The security token included in the request is invalid: AKIAIOSFODNN7EXAMPLE',
      'AKIAIOSFODNN7EXAMPLE',
      '[redacted key id]',
    ],
    ['slack said invalid_auth for xoxb-123-456-abcdefg', 'xoxb-123', '[redacted slack token]'],
    ['header Authorization: Bearer eyJhbGciOi.abc.def', 'eyJhbGciOi', 'Authorization: [redacted]'],
    ['sent Bearer eyJhbGciOi.abc.def', 'eyJhbGciOi', 'Bearer [redacted]'],
    [
      'bad key -----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIB\n-----END PRIVATE KEY-----',
      'MC4CAQAw',
      '[redacted pem]',
    ],
    ['unknown api key ak_build-bot_abcdefghijkl', 'abcdefghijkl', '[redacted api key]'],
  ])('%s', (input, secret, kept) => {
    const out = scrub(input)
    expect(out).not.toContain(secret)
    expect(out).toContain(kept)
  })

  it('keeps ordinary messages, one line, at most 300 characters', () => {
    expect(scrub('role airlock-staging not found')).toBe('role airlock-staging not found')
    expect(scrub('first line\nsecond line')).toBe('first line')
    expect(scrub('x '.repeat(400))).toHaveLength(300)
  })
})
