// The two servers the gateway benchmark runs in their own processes:
//   upstream PORT      a local API: GET answers small JSON, POST /graphql a small GraphQL result
//   proxy PORT UPSTREAM a bare forwarding proxy with the same client as the gateway (an undici
//                      Agent, bodies streamed both ways) and no checks at all
import { createServer } from 'node:http'
import { Agent } from 'undici'

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
  const upstream = new URL(String(upstreamArg))
  const agent = new Agent({ connections: 128, keepAliveTimeout: 10_000 })
  createServer((req, res) => {
    const headers: Record<string, string> = {}
    for (const h of ['content-type', 'accept', 'content-length'])
      if (typeof req.headers[h] === 'string') headers[h] = req.headers[h]
    headers['authorization'] = 'Bearer bench-upstream-token'
    const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0'
    agent
      .request({
        origin: upstream.origin,
        path: req.url ?? '/',
        method: req.method as 'GET',
        headers,
        body: hasBody ? req : null,
      })
      .then(
        (r) => {
          const out: Record<string, string | string[]> = {}
          for (const [k, v] of Object.entries(r.headers))
            if (v !== undefined && k !== 'connection' && k !== 'keep-alive' && k !== 'transfer-encoding')
              out[k] = v
          res.writeHead(r.statusCode, out)
          r.body.pipe(res)
        },
        () => {
          res.writeHead(502)
          res.end()
        },
      )
  }).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'))
} else {
  process.stderr.write('usage: gateway-servers.ts upstream PORT | proxy PORT UPSTREAM_URL\n')
  process.exit(64)
}
