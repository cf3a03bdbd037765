// `airlock exec --isolate-profile`: the child gets a fresh, empty home instead of ours, so it does
// not find the saved profile (~/.config/airlock/config.yaml holds the agent's own key) by
// following HOME or XDG_CONFIG_HOME. Not a sandbox: a process running as the same OS user can
// still open the file by its absolute path (see docs/agent-exec.md).
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface IsolatedHome {
  dir: string
  /** Variables to override in the child's environment. */
  env: Record<string, string>
  remove(): Promise<void>
}

export async function isolatedHome(): Promise<IsolatedHome> {
  // mkdtemp creates the directory 0700: other users cannot look in while the child runs.
  const dir = await mkdtemp(join(tmpdir(), 'airlock-exec-home-'))
  const config = join(dir, '.config')
  await mkdir(config, { mode: 0o700 })
  return {
    dir,
    env: {
      HOME: dir,
      USERPROFILE: dir,
      XDG_CONFIG_HOME: config,
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  }
}
