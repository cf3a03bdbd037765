import { createServer } from 'node:http'
import { describe, expect, it } from 'vitest'
import { call } from '../../src/cli/client.js'
import { timeLeft } from '../../src/cli/output.js'
import { credentialAnswer, parseCredentialInput } from '../../src/cli/commands/git-credential.js'
import { credentialEnv, grantLines, waitingLine, type Session } from '../../src/cli/sessions.js'

describe('cli helpers', () => {
  it('the live waiting line', () => {
    const now = Date.parse('2026-11-21T10:00:00Z')
    const s = {
      approvals_required: 2,
      approvals: [{ by: 'alice', via: 'slack', at: '' }],
      expires_at: '2026-11-21T10:04:30Z',
    } as unknown as Session
    expect(waitingLine(s, now)).toBe('waiting for approval: 1 of 2 (alice) - 4m left')
    expect(waitingLine({ ...s, approvals: [] }, now)).toBe('waiting for approval: 0 of 2 - 4m left')
    expect(timeLeft('2026-11-21T11:05:00Z', now)).toBe('1h 5m left')
    expect(timeLeft('2026-11-21T09:00:00Z', now)).toBe('expired')
  })

  it('maps AWS and PostgreSQL grants to their standard environment variables', () => {
    const aws = credentialEnv({
      token: 'T',
      token_type: 'Bearer',
      expires_at: '',
      credentials: {
        access_key_id: 'AK',
        secret_access_key: 'SK',
        session_token: 'ST',
        expiration: 'E',
        region: 'us-east-1',
      },
    })
    expect(aws).toEqual({
      AIRLOCK_SESSION_TOKEN: 'T',
      AWS_ACCESS_KEY_ID: 'AK',
      AWS_SECRET_ACCESS_KEY: 'SK',
      AWS_SESSION_TOKEN: 'ST',
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
    })
    const pg = credentialEnv({
      token: 'T',
      token_type: 'Bearer',
      expires_at: '',
      credentials: {
        host: 'db',
        port: 5432,
        database: 'app',
        username: 'u',
        password: 'p',
        url: 'postgres://u:p@db:5432/app',
      },
    })
    expect(pg).toEqual({
      AIRLOCK_SESSION_TOKEN: 'T',
      PGHOST: 'db',
      PGPORT: '5432',
      PGDATABASE: 'app',
      PGUSER: 'u',
      PGPASSWORD: 'p',
      DATABASE_URL: 'postgres://u:p@db:5432/app',
    })
    expect(credentialEnv({ token: 'T', token_type: 'Bearer', expires_at: '', credentials: {} })).toEqual({
      AIRLOCK_SESSION_TOKEN: 'T',
    })
    const gw = { url: 'https://airlock.example/gw/railway', token: 'T' }
    expect(credentialEnv({ token: 'T', token_type: 'Bearer', expires_at: '', credentials: gw })).toEqual({
      AIRLOCK_SESSION_TOKEN: 'T',
      AIRLOCK_GATEWAY_URL: 'https://airlock.example/gw/railway',
    })
  })

  it('maps GitHub grants to GITHUB_TOKEN and GH_TOKEN, naming an Enterprise host for gh', () => {
    const grant = (server: string) => ({
      token: 'T',
      token_type: 'Bearer' as const,
      expires_at: '',
      credentials: {
        token: 'ghs_x',
        expires_at: 'E',
        repositories: ['app'],
        permissions: { contents: 'read' },
        api_url: `${server}/api/v3`,
        server_url: server,
      },
    })
    expect(credentialEnv(grant('https://github.com'))).toEqual({
      AIRLOCK_SESSION_TOKEN: 'T',
      GITHUB_TOKEN: 'ghs_x',
      GH_TOKEN: 'ghs_x',
      GITHUB_API_URL: 'https://github.com/api/v3',
      GITHUB_SERVER_URL: 'https://github.com',
    })
    expect(credentialEnv(grant('https://ghe.example.com'))).toMatchObject({
      GH_HOST: 'ghe.example.com',
      GH_ENTERPRISE_TOKEN: 'ghs_x',
    })
  })

  it("answers git's credential requests for the token's server only", () => {
    const input = parseCredentialInput('protocol=https\nhost=github.com\npath=acme/app.git\n\nignored=1\n')
    expect(input).toEqual({ protocol: 'https', host: 'github.com', path: 'acme/app.git' })
    expect(credentialAnswer(input, 'https://github.com', 'ghs_x')).toBe(
      'username=x-access-token\npassword=ghs_x\n',
    )
    expect(credentialAnswer({ ...input, host: 'gitlab.com' }, 'https://github.com', 'ghs_x')).toBeNull()
    expect(credentialAnswer({ ...input, protocol: 'http' }, 'https://github.com', 'ghs_x')).toBeNull()
    expect(
      credentialAnswer({ protocol: 'http', host: '127.0.0.1:9' }, 'http://127.0.0.1:9', 'ghs_x'),
    ).not.toBeNull()
  })

  it.each([
    [429, 'rate_limited', 69],
    [503, 'unavailable', 69],
    [401, 'unauthenticated', 77],
    [403, 'policy_denied', 77],
    [410, 'gone', 65],
    [400, 'invalid_request', 64],
  ])('an API answer %i %s exits %i', async (status, code, exit) => {
    const server = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: code, message: 'said the broker', request_id: 'r1' }))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
      await expect(call({ url, token: 't' }, 'GET', '/v1/x')).rejects.toMatchObject({
        exitCode: exit,
      })
    } finally {
      server.close()
    }
  })

  it('request prints the token and every provider credential, and nothing for a jwt grant', () => {
    const grant = {
      token: 'eyJ.a.b',
      token_type: 'Bearer' as const,
      expires_at: '2026-11-21T10:15:00Z',
      credentials: {
        host: 'db',
        port: 5432,
        database: 'app',
        username: 'u1',
        password: 'p1',
        url: 'postgres://u1:p1@db/app',
      },
    }
    expect(grantLines(grant)).toEqual([
      '  token eyJ.a.b',
      '  PGHOST=db',
      '  PGPORT=5432',
      '  PGDATABASE=app',
      '  PGUSER=u1',
      '  PGPASSWORD=p1',
      '  DATABASE_URL=postgres://u1:p1@db/app',
    ])
    expect(grantLines({ ...grant, credentials: {} })).toEqual(['  token eyJ.a.b'])
  })
})
