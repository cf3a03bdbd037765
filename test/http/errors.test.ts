// The error catalogue's mapping of framework errors: a code always matches its status.
import type { FastifyError } from 'fastify'
import { describe, expect, it } from 'vitest'
import { ERRORS } from '../../src/errors.js'
import { classify } from '../../src/plugins/errors.js'

const fastifyError = (statusCode: number, message = 'x') =>
  Object.assign(new Error(message), { statusCode, code: 'FST_X' }) as FastifyError

describe('classify', () => {
  it.each([
    [400, 'invalid_request'],
    [401, 'unauthenticated'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [409, 'conflict'],
    [413, 'payload_too_large'],
    [415, 'unsupported_media_type'],
    [429, 'rate_limited'],
  ])('a framework %i is %s', (status, code) => {
    expect(classify(fastifyError(status))).toMatchObject({ status, code })
  })

  it('a 4xx the catalogue has no code for is a 400 invalid_request, never a code of another status', () => {
    for (const status of [405, 406, 418, 431]) {
      expect(classify(fastifyError(status))).toMatchObject({ status: 400, code: 'invalid_request' })
    }
  })

  it('anything else is a 500 whose code is in the catalogue with that status', () => {
    const r = classify(new Error('boom'))
    expect(r).toMatchObject({ status: 500, code: 'internal_error' })
    expect(ERRORS[r.code as keyof typeof ERRORS]).toBe(500)
    expect(r.message).not.toContain('boom')
  })
})
