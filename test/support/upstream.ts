// A plain HTTP upstream for gateway tests: records every request it receives (method, URL,
// headers, body) and answers by path. `rawRequest` sends bytes exactly as given, so paths reach the
// broker without any client normalising them.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import { connect } from 'node:net'

export interface Seen {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

export interface Upstream {
  url: string
  port: number
  seen: Seen[]
  /** Called once a request arrives (after its body), for tests that await one. */
  onRequest: ((s: Seen) => void) | null
  close(): Promise<void>
}

export type Handler = (s: Seen, res: ServerResponse) => void

export async function startUpstream(handler: Handler): Promise<Upstream> {
  const up: Upstream = { url: '', port: 0, seen: [], onRequest: null, close: async () => {} }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const s = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      }
      up.seen.push(s)
      up.onRequest?.(s)
      handler(s, res)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  up.port = (server.address() as { port: number }).port
  up.url = `http://127.0.0.1:${up.port}`
  up.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    })
  return up
}

/** Sends one raw HTTP/1.1 request and returns the status code and the whole response text. */
export function rawRequest(port: number, head: string, body = ''): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => {
      sock.write(
        `${head}\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      )
    })
    const chunks: Buffer[] = []
    sock.on('data', (c: Buffer) => chunks.push(c))
    sock.on('error', reject)
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString()
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text })
    })
  })
}
