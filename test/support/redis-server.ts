// A private redis-server on a free port, for tests that need their own (or when REDIS_URL is unset).
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

export interface RedisServer {
  url: string
  port: number
  start(): Promise<void>
  stop(): Promise<void>
  /** SIGSTOPs (true) or SIGCONTs (false) the server: connections stay open, nothing is answered. */
  pause(paused: boolean): void
}

export async function redisServer(extraArgs: string[] = []): Promise<RedisServer> {
  const port = await freePort()
  let child: ChildProcess | null = null
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      const args = [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        ...extraArgs,
      ]
      const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
      child = c
      await new Promise<void>((resolve, reject) => {
        let out = ''
        const onData = (b: Buffer) => {
          out += b.toString()
          if (out.includes('Ready to accept connections')) {
            c.stdout?.off('data', onData)
            c.stdout?.resume()
            resolve()
          }
        }
        c.stdout?.on('data', onData)
        c.once('error', (e) =>
          reject(new Error(`cannot start redis-server (is it installed?): ${e.message}`)),
        )
        c.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out.slice(-500)}`)))
      })
    },
    pause(paused) {
      child?.kill(paused ? 'SIGSTOP' : 'SIGCONT')
    },
    async stop() {
      const c = child
      child = null
      if (!c || c.exitCode !== null) return
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve())
        c.kill('SIGKILL')
      })
    },
  }
  await server.start()
  return server
}
