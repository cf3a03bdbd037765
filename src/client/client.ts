// The HTTP client behind `airlock`'s client commands: AIRLOCK_URL and AIRLOCK_TOKEN (or --url),
// Airlock's error body turned into one clear line and the exit codes of docs/cli.md.
import { CliError, EXIT } from './exit.js'
import { resolveClient, type Profile } from './profile.js'

export type ClientConfig = Profile

export const clientFor = (flags: { url?: string; profile?: string }): Promise<ClientConfig> =>
  resolveClient(flags)

const withoutCredentials = (url: string): string => {
  try {
    const u = new URL(url)
    u.username = ''
    u.password = ''
    return u.toString().replace(/\/$/, '')
  } catch {
    return '(an invalid URL)'
  }
}

const exitFor = (status: number, code: string): number =>
  status === 503 || status >= 500 || status === 429
    ? EXIT.unavailable
    : status === 401 || status === 403
      ? EXIT.forbidden
      : code === 'gone' || code === 'approval_pending'
        ? EXIT.denied
        : EXIT.usage

export async function call<T>(
  c: ClientConfig,
  method: string,
  path: string,
  body?: unknown,
  opts: { signal?: AbortSignal } = {},
): Promise<T> {
  // fetch's error for a header it cannot send quotes the header, key and all: refuse it first.
  if (!/^[\x21-\x7e]+$/.test(c.token))
    throw new CliError(
      'the API key (AIRLOCK_TOKEN or the profile) has spaces, line breaks or non-ASCII characters, so it cannot be sent: set it again as the broker gave it',
      EXIT.usage,
    )
  let res: Response
  const timeout = AbortSignal.timeout(70_000)
  try {
    res = await fetch(`${c.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${c.token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout,
    })
  } catch (e) {
    // The caller gave up (Ctrl-C, a cancelled tool call): that is not the broker's failure.
    if (opts.signal?.aborted) throw opts.signal.reason
    // A URL may carry user:password@: only its origin and path are ever printed.
    const where = withoutCredentials(c.url)
    const why = String((e as Error).cause ?? (e as Error).message).replaceAll(c.url, where)
    throw new CliError(`broker unreachable at ${where}: ${why}`, EXIT.unavailable)
  }
  if (res.status === 204) return undefined as T
  const text = await res.text()
  let parsed: unknown = null
  try {
    parsed = text ? JSON.parse(text) : null
  } catch {
    // not JSON: reported below
  }
  if (!res.ok) {
    const e = (parsed ?? {}) as { error?: string; message?: string }
    throw new CliError(
      `${e.message ?? `HTTP ${res.status}`}${e.error ? ` (${e.error})` : ''}`,
      exitFor(res.status, e.error ?? ''),
    )
  }
  return parsed as T
}

/** Reads a secret value from stdin or a file, never from an argument; one trailing newline is dropped. */
export async function readSecretInput(fromFile: string | undefined): Promise<string> {
  let text: string
  if (fromFile) {
    const { readFile } = await import('node:fs/promises')
    text = await readFile(fromFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new CliError(`cannot read ${fromFile} (${e.code ?? 'error'})`, EXIT.usage)
    })
  } else {
    if (process.stdin.isTTY) process.stderr.write('value (end with Ctrl-D): ')
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    text = Buffer.concat(chunks).toString('utf8')
  }
  const value = text.replace(/\r?\n$/, '')
  if (!value) throw new CliError('empty value: pipe the secret on stdin or use --from-file', EXIT.usage)
  return value
}
