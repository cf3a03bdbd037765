// Client configuration: --url, then AIRLOCK_URL/AIRLOCK_TOKEN, then a profile in
// ~/.config/airlock/config.yaml (written by `airlock login`, mode 0600).
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { parse, stringify } from 'yaml'
import { CliError, EXIT } from './exit.js'

export interface Profile {
  url: string
  token: string
}

export const profilePath = (): string =>
  join(process.env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'), 'airlock', 'config.yaml')

async function readProfiles(): Promise<Record<string, Partial<Profile>>> {
  try {
    const doc = parse(await readFile(profilePath(), 'utf8')) as {
      profiles?: Record<string, Partial<Profile>>
    } | null
    return doc?.profiles ?? {}
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new CliError(`cannot read ${profilePath()}: ${(e as Error).message.split('\n')[0]}`, EXIT.usage)
  }
}

export async function resolveClient(flags: { url?: string; profile?: string }): Promise<Profile> {
  const name = flags.profile ?? process.env['AIRLOCK_PROFILE'] ?? 'default'
  const stored = (await readProfiles())[name] ?? {}
  const url = flags.url || process.env['AIRLOCK_URL'] || stored.url
  const token = process.env['AIRLOCK_TOKEN'] || stored.token
  if (!url) throw new CliError('no broker: set AIRLOCK_URL, pass --url, or run `airlock login`', EXIT.usage)
  if (!token)
    throw new CliError('no credential: set AIRLOCK_TOKEN to your API key, or run `airlock login`', EXIT.usage)
  return { url: url.replace(/\/$/, ''), token }
}

export async function saveProfile(name: string, profile: Profile): Promise<string> {
  const path = profilePath()
  const profiles = await readProfiles()
  profiles[name] = profile
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  // A new file, 0600 from its creation ('wx' never opens an existing file or follows a link), then
  // renamed over the old one: the key is never in a loose file or written through a planted symlink.
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeFile(tmp, stringify({ profiles }), { mode: 0o600, flag: 'wx' })
    await rename(tmp, path)
  } catch (e) {
    await rm(tmp, { force: true })
    throw new CliError(`cannot write ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, EXIT.usage)
  }
  return path
}
