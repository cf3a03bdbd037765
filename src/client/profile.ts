// Client configuration: --url, then AIRLOCK_URL/AIRLOCK_TOKEN, then a profile in
// ~/.config/airlock/config.yaml (written by `airlock login`, mode 0600).
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
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
  await writeFile(path, stringify({ profiles }), { mode: 0o600 })
  await chmod(path, 0o600) // also when the file existed with looser permissions
  return path
}
