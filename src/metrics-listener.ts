// `server.metrics: { listen: "host:port" }`: /metrics on its own address, nothing else there, so
// Prometheus needs no API credential and the API port serves no metrics.
import { createServer, type Server } from 'node:http'
import type { Registry } from 'prom-client'

export interface MetricsListener {
  /** The bound port (the configured one, or the one the OS picked for port 0). */
  port: number
  close(): Promise<void>
}

export async function startMetricsListener(
  registry: Registry,
  host: string,
  port: number,
): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('not found: this address serves GET /metrics only\n')
      return
    }
    registry.metrics().then(
      (text) =>
        res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? '' : text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n'),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
