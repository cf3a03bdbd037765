// A local stand-in for GitHub's REST API, speaking its wire protocol for the calls Airlock and an
// agent make: App JWTs (RS256) verified against the App's public key, installation tokens limited
// to repositories and permissions of the installation, GitHub's JSON shapes, error bodies and
// rate-limit headers. Real clients (fetch in the broker, @octokit/rest in agents) are pointed at it.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { jwtVerify } from 'jose'

export interface FakeInstallation {
  id: number
  account: string
  repositories: string[]
  permissions: Record<string, string>
}

export interface FakeToken {
  token: string
  installationId: number
  repositories: string[]
  permissions: Record<string, string>
  expiresAt: number
  revokedAt: number | null
}

export interface GithubCall {
  method: string
  path: string
  status: number
  /** For token requests: the JSON body, and the verified JWT claims. */
  body?: Record<string, unknown>
  claims?: { iss: unknown; iat: number; exp: number }
}

/** A canned answer instead of the real one (rate limits, outages). */
export interface CannedAnswer {
  status: number
  headers?: Record<string, string>
  message: string
}

export interface FakeGithub {
  url: string
  appId: number
  /** The App's private key, PKCS#1 PEM as GitHub hands it out. */
  privateKeyPem: string
  calls: GithubCall[]
  tokens: Map<string, FakeToken>
  /** Files committed through the contents API: `owner/repo/path` -> content. */
  files: Map<string, string>
  /** How long new tokens live (GitHub: one hour). */
  tokenLifetimeMs: number
  /** Changes the next token answers as a misbehaving GitHub might (the token itself is minted as asked). */
  tamper: ((answer: Record<string, any>) => void) | null
  addInstallation(i: FakeInstallation): void
  /** The next requests whose `METHOD /path` starts with `route` get these answers first, in order. */
  answer(route: string, ...answers: CannedAnswer[]): void
  close(): Promise<void>
}

const RANK: Record<string, number> = { read: 1, write: 2, admin: 3 }
const DOCS = 'https://docs.github.com/rest'
/** GitHub writes times without milliseconds. */
const githubTime = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z')

/** GitHub's primary rate limit answer (x-ratelimit-remaining: 0 until reset). */
export const primaryRateLimit = (resetInSeconds: number): CannedAnswer => ({
  status: 403,
  headers: {
    'x-ratelimit-limit': '5000',
    'x-ratelimit-remaining': '0',
    'x-ratelimit-used': '5000',
    'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + resetInSeconds),
    'x-ratelimit-resource': 'core',
  },
  message: 'API rate limit exceeded for installation ID 4242.',
})
/** A secondary rate limit: 429 with retry-after. */
export const secondaryRateLimit = (retryAfterSeconds: number): CannedAnswer => ({
  status: 429,
  headers: { 'retry-after': String(retryAfterSeconds) },
  message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
})

export async function fakeGithub(opts: { appId?: number; now?: () => number } = {}): Promise<FakeGithub> {
  const now = opts.now ?? (() => Date.now())
  const appId = opts.appId ?? 123456
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const privateKeyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
  const installations = new Map<number, FakeInstallation>()
  const tokens = new Map<string, FakeToken>()
  const files = new Map<string, string>()
  const calls: GithubCall[] = []
  const canned: { route: string; answer: CannedAnswer }[] = []
  let used = 0

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    used++
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-github-api-version-selected': '2022-11-28',
      'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(Math.max(0, 5000 - used)),
      'x-ratelimit-used': String(used),
      'x-ratelimit-reset': String(Math.floor(now() / 1000) + 3600),
      'x-ratelimit-resource': 'core',
      ...headers,
    })
    res.end(status === 204 ? undefined : JSON.stringify(body))
  }
  const error = (res: ServerResponse, status: number, message: string, headers?: Record<string, string>) =>
    send(res, status, { message, documentation_url: DOCS, status: String(status) }, headers)

  const bearer = (req: IncomingMessage): string | null =>
    /^(?:Bearer|token) (\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? null

  /** Verifies an App JWT as GitHub does: RS256 by the App's key, iss the App, iat in the past, exp within 10 minutes. */
  async function appAuth(req: IncomingMessage): Promise<GithubCall['claims'] | string> {
    const jwt = bearer(req)
    if (!jwt) return 'A JSON web token could not be decoded'
    try {
      const { payload } = await jwtVerify(jwt, publicKey as KeyObject, {
        algorithms: ['RS256'],
        currentDate: new Date(now()),
      })
      const t = Math.floor(now() / 1000)
      const { iss, iat, exp } = payload
      if (String(iss) !== String(appId)) return `'Issuer' claim ('iss') must be an Integer`
      if (typeof iat !== 'number' || iat > t + 5)
        return "'Issued at' claim ('iat') must be an Integer representing a time in the past"
      if (typeof exp !== 'number' || exp - t > 600 || exp - iat > 600)
        return "'Expiration time' claim ('exp') is too far in the future"
      return { iss, iat, exp }
    } catch {
      return 'A JSON web token could not be decoded'
    }
  }

  const liveToken = (req: IncomingMessage): FakeToken | null => {
    const t = tokens.get(bearer(req) ?? '')
    return t && t.revokedAt === null && t.expiresAt > now() ? t : null
  }

  const repoJson = (owner: string, name: string) => ({
    id: Math.abs([...`${owner}/${name}`].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 7)),
    node_id: `R_${Buffer.from(name).toString('base64url')}`,
    name,
    full_name: `${owner}/${name}`,
    private: true,
    owner: { login: owner, id: 1, type: 'Organization' },
    html_url: `https://github.com/${owner}/${name}`,
    default_branch: 'main',
  })

  async function handle(req: IncomingMessage, res: ServerResponse, call: GithubCall): Promise<void> {
    const path = call.path
    const at = canned.findIndex((c) => `${call.method} ${path}`.startsWith(c.route))
    if (at >= 0) {
      const { answer } = canned.splice(at, 1)[0]!
      return error(res, answer.status, answer.message, answer.headers)
    }
    const raw = await new Promise<string>((resolve) => {
      let s = ''
      req.on('data', (d: Buffer) => (s += d.toString()))
      req.on('end', () => resolve(s))
    })
    const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {}
    let m: RegExpExecArray | null

    if ((m = /^\/app\/installations\/(\d+)(\/access_tokens)?$/.exec(path))) {
      const claims = await appAuth(req)
      if (typeof claims === 'string') return error(res, 401, claims)
      call.claims = claims
      const inst = installations.get(Number(m[1]))
      if (!inst) return error(res, 404, 'Not Found')
      if (call.method === 'GET' && !m[2])
        return send(res, 200, {
          id: inst.id,
          account: { login: inst.account, type: 'Organization' },
          repository_selection: 'selected',
          access_tokens_url: `${fake.url}/app/installations/${inst.id}/access_tokens`,
          app_id: appId,
          permissions: inst.permissions,
        })
      if (call.method !== 'POST' || !m[2]) return error(res, 404, 'Not Found')
      call.body = body
      const repos = (body['repositories'] as string[] | undefined) ?? inst.repositories
      const perms = (body['permissions'] as Record<string, string> | undefined) ?? inst.permissions
      if (repos.some((r) => !inst.repositories.includes(r)))
        return error(
          res,
          422,
          'There is at least one repository that does not exist or is not accessible to the parent installation.',
        )
      if (Object.entries(perms).some(([k, v]) => (RANK[inst.permissions[k] ?? ''] ?? 0) < (RANK[v] ?? 9)))
        return error(res, 422, 'The permissions requested are not granted to this installation.')
      const t: FakeToken = {
        token: `ghs_${randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36)}`,
        installationId: inst.id,
        repositories: repos,
        permissions: { ...perms, metadata: perms['metadata'] ?? 'read' },
        expiresAt: Math.floor((now() + fake.tokenLifetimeMs) / 1000) * 1000,
        revokedAt: null,
      }
      tokens.set(t.token, t)
      const answer = {
        token: t.token,
        expires_at: githubTime(t.expiresAt),
        permissions: t.permissions,
        repository_selection: 'selected',
        repositories: repos.map((r) => repoJson(inst.account, r)),
      }
      fake.tamper?.(answer)
      return send(res, 201, answer)
    }

    if (path === '/installation/token' && call.method === 'DELETE') {
      const t = liveToken(req)
      if (!t) return error(res, 401, 'Bad credentials')
      t.revokedAt = now()
      return send(res, 204, null)
    }

    if ((m = /^\/repos\/([^/]+)\/([^/]+)(?:\/contents\/(.+))?$/.exec(path))) {
      const t = liveToken(req)
      if (!t) return error(res, 401, 'Bad credentials')
      const [, owner, repo, file] = m as unknown as [string, string, string, string | undefined]
      const inst = installations.get(t.installationId) as FakeInstallation
      // GitHub answers 404, not 403, for a repository the token cannot see.
      if (owner !== inst.account || !t.repositories.includes(repo)) return error(res, 404, 'Not Found')
      if (call.method === 'GET' && file === undefined) return send(res, 200, repoJson(owner, repo))
      if (call.method === 'PUT' && file !== undefined) {
        if (t.permissions['contents'] !== 'write')
          return error(res, 403, 'Resource not accessible by integration')
        const key = `${owner}/${repo}/${decodeURIComponent(file)}`
        const existed = files.has(key)
        if (existed && typeof body['sha'] !== 'string') return error(res, 422, '"sha" wasn\'t supplied.')
        files.set(key, Buffer.from(String(body['content'] ?? ''), 'base64').toString('utf8'))
        const sha = randomBytes(20).toString('hex')
        return send(res, existed ? 200 : 201, {
          content: { name: file.split('/').pop(), path: decodeURIComponent(file), sha },
          commit: { sha: randomBytes(20).toString('hex'), message: body['message'] },
        })
      }
    }
    return error(res, 404, 'Not Found')
  }

  const server = createServer((req, res) => {
    const call: GithubCall = { method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]!, status: 0 }
    calls.push(call)
    res.on('finish', () => (call.status = res.statusCode))
    handle(req, res, call).catch(() => error(res, 500, 'Server Error'))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))

  const fake: FakeGithub = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    appId,
    privateKeyPem,
    calls,
    tokens,
    files,
    tokenLifetimeMs: 3600_000,
    tamper: null,
    addInstallation: (i) => void installations.set(i.id, i),
    answer: (route, ...answers) => canned.push(...answers.map((answer) => ({ route, answer }))),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  return fake
}
