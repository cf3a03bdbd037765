// `airlock exec --isolate-profile` against a real broker process: the agent's key lives in its saved
// profile (~/.config/airlock/config.yaml); without the flag the child can read it through HOME,
// with it the child gets a fresh empty home, which is removed when the child exits.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { runCli } from '../support/cli.js'
import { agentArgs, cliBroker } from '../support/cli-env.js'

const fx = cliBroker('iso', { home: (dir) => join(dir, 'home') })
const { keys, home } = fx

beforeAll(async () => {
  const broker = await fx.start()
  // What `airlock login` leaves behind: the agent's own key in the profile, mode 0600.
  mkdirSync(join(home, '.config', 'airlock'), { recursive: true })
  writeFileSync(
    join(home, '.config', 'airlock', 'config.yaml'),
    stringify({ profiles: { default: { url: broker.url, token: keys['build-bot'] } } }),
    { mode: 0o600 },
  )
}, 60_000)

afterAll(() => fx.stop())

// The profile is the only credential: no AIRLOCK_TOKEN or AIRLOCK_URL in the environment.
const env = {
  AIRLOCK_TOKEN: undefined,
  AIRLOCK_URL: undefined,
  HOME: home,
  XDG_CONFIG_HOME: undefined,
  NO_COLOR: '1',
}
const args = (task: string) => agentArgs(task)
// The child prints where its home is, then everything it can find of an airlock profile through it.
const PROBE =
  'echo "home=$HOME"; cat "${XDG_CONFIG_HOME:-$HOME/.config}/airlock/config.yaml" 2>/dev/null; echo "session=${AIRLOCK_SESSION_TOKEN:+yes}"'

// Each test starts the CLI through tsx (twice for the last one): slow on a busy machine.
const SLOW = 120_000

describe('airlock exec --isolate-profile', () => {
  it(
    'without it, the child reads the agent key from the saved profile (the risk)',
    async () => {
      const r = await runCli(['exec', ...args('ISO-1'), '--', 'sh', '-c', PROBE], env)
      expect(r.code, r.err).toBe(0)
      expect(r.out).toContain(`home=${home}`)
      expect(r.out).toContain(keys['build-bot'])
    },
    SLOW,
  )

  it(
    'with it, the child gets a fresh empty home without the profile, removed after it exits',
    async () => {
      const r = await runCli(
        [
          'exec',
          '--isolate-profile',
          ...args('ISO-2'),
          '--',
          'sh',
          '-c',
          `${PROBE}; ls -A "$HOME" "$XDG_CONFIG_HOME"`,
        ],
        env,
      )
      expect(r.code, r.err).toBe(0)
      expect(r.out).toContain('session=yes') // the session's credentials still arrive
      expect(r.out).not.toContain(keys['build-bot'])
      expect(r.err).not.toContain(keys['build-bot'])
      const childHome = /home=(\S+)/.exec(r.out)?.[1] as string
      expect(childHome).not.toBe(home)
      // Nothing in it but the empty .config directory.
      expect(r.out.split('\n').filter((l) => l && !/^(home|session)=|:$/.test(l))).toEqual(['.config'])
      expect(existsSync(childHome)).toBe(false)
    },
    SLOW,
  )

  it(
    "the child's own airlock command finds no profile there",
    async () => {
      const inner = await runCli(
        [
          'exec',
          '--isolate-profile',
          ...args('ISO-3'),
          '--',
          process.execPath,
          '--import',
          'tsx',
          'src/cli/main.ts',
          'sessions',
        ],
        env,
      )
      expect(inner.code).not.toBe(0)
      expect(inner.err).toMatch(/no broker|no credential/)
      expect(inner.out + inner.err).not.toContain(keys['build-bot'])
    },
    SLOW,
  )
})
