// The two servers the gateway benchmark runs in their own processes:
//   upstream PORT      a local API: GET answers small JSON, POST /graphql a small GraphQL result
//   proxy PORT UPSTREAM a bare forwarding proxy with the same client as the gateway (an undici
//                      Agent, bodies streamed both ways) and no checks at all
//   floor PORT UPSTREAM REDIS_URL PREFIX
//                      the bare proxy plus only the Redis work every gateway call needs: one round
//                      trip that reads a session record and the lock table before forwarding, and
//                      one hash-chained audit event written (group commit) before the answer is
//                      sent. No framework, no classification, no redaction: what no gateway that
//                      checks revocation per call and audits it can do without, on this machine.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { Redis } from 'ioredis'
import { Agent } from 'undici'
import { chainedLog } from './lib/chained-log.js'

const [mode, portArg, upstreamArg] = process.argv.slice(2)
const port = Number(portArg)

if (mode === 'upstream') {
  const item = JSON.stringify({ items: [{ id: 'item-1', name: 'first' }] })
  const gql = JSON.stringify({ data: { me: { id: 'u1', email: 'bench@example.com' } } })
  createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(req.method === 'POST' ? gql : item)
    })
  }).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'))
} else if (mode === 'proxy') {
  const forward = forwarder(new URL(String(upstreamArg)))
  createServer((req, res) => void forward(req, res)).listen(port, '127.0.0.1', () =>
    process.stdout.write('ready\n'),
  )
} else if (mode === 'floor') {
  const [redisUrl, prefix] = process.argv.slice(5)
  const forward = forwarder(new URL(String(upstreamArg)))
  const redis = new Redis(String(redisUrl), { enableAutoPipelining: true })
  const session = `${prefix}floor:s`
  const locks = `${prefix}floor:locks`
  const stream = `${prefix}floor:audit`
  const headKey = `${prefix}floor:head`
  await redis.set(session, JSON.stringify({ id: 'ses_floor', status: 'active', jti: 'j1' }), 'PX', 3_600_000)
  redis.defineCommand('floorCheck', {
    numberOfKeys: 2,
    lua: "return { redis.call('GET', KEYS[1]), redis.call('HLEN', KEYS[2]) }",
  })
  redis.defineCommand('floorAppend', {
    numberOfKeys: 2,
    lua: "for i = 2, #ARGV do redis.call('XADD', KEYS[1], '*', 'e', ARGV[i]) end redis.call('SET', KEYS[2], ARGV[1]) return 1",
  })
  const floor = redis as Redis & {
    floorCheck(s: string, l: string): Promise<[string | null, number]>
    floorAppend(s: string, h: string, ...args: string[]): Promise<number>
  }
  const log = chainedLog<null>((head, batch) =>
    floor.floorAppend(stream, headKey, head, ...batch.map((b) => b.line)),
  )
  const audit = (status: number, path: string) =>
    log.record(
      {
        actor: 'bench-bot',
        chain: 'floor',
        details: { method: 'GET', path, provider: 'bench', status },
        session_id: 'ses_floor',
        type: 'gateway.forwarded',
      },
      null,
    )
  createServer((req, res) => {
    floor.floorCheck(session, locks).then(
      ([rec]) => {
        if (rec === null) return void res.writeHead(401).end()
        void forward(req, res, (status) => audit(status, req.url ?? '/'))
      },
      () => void res.writeHead(503).end(),
    )
  }).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'))
} else {
  process.stderr.write(
    'usage: gateway-servers.ts upstream PORT | proxy PORT UPSTREAM_URL | floor PORT UPSTREAM_URL REDIS_URL PREFIX\n',
  )
  process.exit(64)
}

/** The bare proxy's forwarding; `before` runs once the upstream answered, before the answer is sent. */
function forwarder(upstream: URL) {
  const agent = new Agent({ connections: 128, keepAliveTimeout: 10_000 })
  return async (req: IncomingMessage, res: ServerResponse, before?: (status: number) => Promise<void>) => {
    const headers: Record<string, string> = {}
    for (const h of ['content-type', 'accept', 'content-length'])
      if (typeof req.headers[h] === 'string') headers[h] = req.headers[h]
    headers['authorization'] = 'Bearer bench-upstream-token'
    const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0'
    try {
      const r = await agent.request({
        origin: upstream.origin,
        path: req.url ?? '/',
        method: req.method as 'GET',
        headers,
        body: hasBody ? req : null,
      })
      if (before) await before(r.statusCode)
      const out: Record<string, string | string[]> = {}
      for (const [k, v] of Object.entries(r.headers))
        if (v !== undefined && k !== 'connection' && k !== 'keep-alive' && k !== 'transfer-encoding')
          out[k] = v
      res.writeHead(r.statusCode, out)
      r.body.pipe(res)
    } catch {
      res.writeHead(502)
      res.end()
    }
  }
}
