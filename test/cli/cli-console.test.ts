// `airlock console end-sessions`: an operator signs a person out of the web console everywhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'
import { cliBroker } from '../support/cli-env.js'
import { KEY_LOGIN } from '../support/console.js'

const fx = cliBroker('cs')

beforeAll(() => fx.start(KEY_LOGIN), 60_000)
afterAll(() => fx.stop())

/** Signs in to the console with an API key as the sign-in page does; the Cookie header. */
async function signIn(key: string): Promise<string> {
  const page = await fetch(`${fx.broker.url}/console/login`, { headers: { accept: 'text/html' } })
  const pre = /airlock_csrf=([\w-]+)/.exec(page.headers.get('set-cookie') ?? '')?.[1] as string
  const r = await fetch(`${fx.broker.url}/console/login/key`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: `airlock_csrf=${pre}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: pre, api_key: key }).toString(),
  })
  expect(r.status).toBe(303)
  return `airlock_console=${/airlock_console=([\w-]+)/.exec(r.headers.get('set-cookie') ?? '')?.[1]}`
}

const home = async (cookie: string) =>
  (
    await fetch(`${fx.broker.url}/console`, {
      redirect: 'manual',
      headers: { accept: 'text/html', cookie },
    })
  ).status

describe('airlock console end-sessions', () => {
  it('ends every console session of the person; --json gives the count', async () => {
    const one = await signIn(fx.keys.alice)
    const two = await signIn(fx.keys.alice)
    expect(await home(one)).toBe(200)
    const r = await runCli(['console', 'end-sessions', 'alice'], fx.as('ops'))
    expect(r.code, r.err).toBe(0)
    expect(r.out).toBe('alice: ended 2 console session(s)\n')
    expect(await home(one)).toBe(303)
    expect(await home(two)).toBe(303)
    const again = await runCli(['console', 'end-sessions', 'alice', '--json'], fx.as('ops'))
    expect(JSON.parse(again.out)).toEqual({ human: 'alice', ended: 0 })
  })

  it('refuses an approver (77) and names an unknown person (64)', async () => {
    const denied = await runCli(['console', 'end-sessions', 'alice'], fx.as('carol'))
    expect(denied.code).toBe(77)
    expect(denied.err).toMatch(/lacks the role/)
    const unknown = await runCli(['console', 'end-sessions', 'mallory'], fx.as('ops'))
    expect(unknown.code).toBe(64)
    expect(unknown.err).toMatch(/no person mallory/)
  })
})
