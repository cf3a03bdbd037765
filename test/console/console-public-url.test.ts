// With the console on, server.public_url must be https (http only on loopback): over plain http
// the session cookie cannot be Secure or __Host-, and API-key sign-ins would travel in clear.
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'
import { newKeys, testConfigYaml } from '../support/fixtures.js'

const keys = newKeys()
const load = (publicUrl: string, extra = 'console: { api_key_login: true }') =>
  parseConfig(testConfigYaml('airlock-test:unused:', keys, { publicUrl, extra }), {
    baseDir: process.cwd(),
    env: { REDIS_URL: 'redis://127.0.0.1:6379' },
  })

describe('server.public_url with the console on', () => {
  it('refuses http:// away from loopback, naming the path and why', () => {
    let problems: { path: string; message: string }[] = []
    try {
      load('http://airlock.example.com')
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e
      problems = e.problems
    }
    expect(problems).toEqual([
      {
        path: 'server.public_url',
        message: expect.stringMatching(
          /^the console is on, so expected an https:\/\/ URL \(http:\/\/ only for localhost, 127\.0\.0\.1 or \[::1\]\): .*Secure.*in clear/,
        ),
      },
    ])
  })

  it.each([
    'https://airlock.example.com',
    'http://127.0.0.1:8080',
    'http://localhost:8080',
    'http://[::1]:8080',
  ])('accepts %s', (url) => {
    expect(load(url).server.publicUrl).toBe(url)
  })

  it('leaves http:// alone when there is no console (the token issuer only)', () => {
    expect(load('http://airlock.example.com', '').console).toBeNull()
  })
})
