import { describe, expect, it } from 'vitest'
import { scrub } from '../../src/secrets/scrub.js'

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
    ['git said ghs_16C7e42F292c6912E7710c8 is bad', 'ghs_16C7e42F', '[redacted github token]'],
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

describe('the logger', () => {
  it('AWS error descriptions (logs, audit reasons, 503 messages) pass the scrubber', async () => {
    const { describe: describeAws } = await import('../../providers/aws/clients.js')
    const e = Object.assign(new Error('The security token AKIAIOSFODNN7EXAMPLE is invalid'), {
      name: 'InvalidClientTokenId',
    })
    const line = describeAws(e)
    expect(line).toMatch(/^InvalidClientTokenId: The security token \[redacted key id\] is invalid/)
    expect(line).not.toContain('AKIAIOSFODNN7EXAMPLE')
  })

  it('scrubs every err and error field, whatever logs it', async () => {
    const { createLogger } = await import('../../src/log.js')
    const { LineSink } = await import('../helper.js')
    const sink = new LineSink()
    const log = createLogger({ level: 'info', destination: sink })
    log.warn({ err: 'connect failed: postgres://admin:hunter2@db/app' }, 'a')
    log.warn({ error: 'auth password=hunter2' }, 'b')
    log.warn({ err: new Error('AKIAIOSFODNN7EXAMPLE rejected') }, 'c')
    log.warn({ err: { message: 'xoxb-1-2-secret', code: 'x' } }, 'd')
    log.warn({ provider: 'p', note: 'ordinary' }, 'e')
    // Secret-named fields are redacted wherever they sit, not only one level down.
    log.warn({ password: 'pw-top-level' }, 'f')
    log.warn({ grant: { credentials: { secret_access_key: 'sak-nested' } } }, 'g')
    log.warn({ a: { b: { token: 'tok-two-down' } } }, 'h')
    const out = sink.lines.join('\n')
    for (const secret of [
      'hunter2',
      'AKIAIOSFODNN7EXAMPLE',
      'xoxb-1-2-secret',
      'pw-top-level',
      'sak-nested',
      'tok-two-down',
    ])
      expect(out).not.toContain(secret)
    expect(out).toContain('postgres://[redacted]@db/app')
    expect(out).toContain('"note":"ordinary"')
  })
})
