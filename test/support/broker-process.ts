// Runs `airlock serve` as a real child process and follows its output, so tests can await log
// lines (events) instead of sleeping.
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './redis-server.js'

export interface BrokerProcess {
  url: string
  port: number
  child: ChildProcess
  stdout: string[]
  stderr: string[]
  /** Resolves with the first output line (from now on, or already seen) matching `re`. */
  waitForLine(re: RegExp, fromIndex?: number): Promise<string>
  stop(): Promise<number | null>
}

export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'airlock-test-'))

export function writeSigningKey(dir: string): { path: string; pem: string } {
  const { privateKey } = generateKeyPairSync('ed25519')
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const path = join(dir, 'signing.pem')
  writeFileSync(path, pem, { mode: 0o600 })
  return { path, pem }
}

export async function startBrokerProcess(
  configPath: string,
  env: Record<string, string> = {},
  opts: {
    /**
     * Runs the broker as if on another machine: in its own UTS namespace with this host name
     * (Linux; util-linux `unshare`, as root or with unprivileged user namespaces).
     */
    host?: string
  } = {},
): Promise<BrokerProcess> {
  const node = [process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', configPath]
  const [command, ...args] = opts.host
    ? [
        'unshare',
        ...(process.getuid?.() === 0 ? [] : ['--user', '--map-root-user']),
        '--uts',
        'sh',
        '-c',
        'hostname "$0" && exec "$@"',
        opts.host,
        ...node,
      ]
    : node
  const child = spawn(command as string, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stdout: string[] = []
  const stderr: string[] = []
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = []
  const feed = (into: string[]) => {
    let partial = ''
    return (b: Buffer) => {
      const parts = (partial + b.toString()).split('\n')
      partial = parts.pop() ?? ''
      for (const line of parts) {
        into.push(line)
        for (const w of [...waiters]) {
          if (w.re.test(line)) {
            waiters.splice(waiters.indexOf(w), 1)
            w.resolve(line)
          }
        }
      }
    }
  }
  child.stdout?.on('data', feed(stdout))
  child.stderr?.on('data', feed(stderr))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))

  const proc: BrokerProcess = {
    url: '',
    port: 0,
    child,
    stdout,
    stderr,
    waitForLine(re, fromIndex = 0) {
      const seen = [...stdout, ...stderr].slice(fromIndex).find((l) => re.test(l))
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        waiters.push({ re, resolve })
        void exited.then((code) =>
          reject(new Error(`broker exited (${code}) before ${re}: ${stderr.slice(-5).join('\n')}`)),
        )
      })
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      return exited
    },
  }
  const listening = await proc.waitForLine(/Server listening at http:\/\/127\.0\.0\.1:\d+/)
  const m = /http:\/\/127\.0\.0\.1:(\d+)/.exec(listening) as RegExpExecArray
  proc.port = Number(m[1])
  proc.url = `http://127.0.0.1:${proc.port}`
  return proc
}

export { freePort }

/**
 * A JSON call to a broker's API with `token` as the bearer; `record`, if given, sees every
 * response's text and headers (to search them for secrets).
 */
export async function callApi(
  url: string,
  method: string,
  path: string,
  token: string,
  body?: unknown,
  record?: (text: string, headers: Headers) => void,
): Promise<{ status: number; body: Record<string, any> }> {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  const text = await r.text()
  record?.(text, r.headers)
  return { status: r.status, body: JSON.parse(text) as Record<string, any> }
}
