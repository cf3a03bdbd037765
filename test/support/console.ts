// Signing in to the console the way its pages do, for tests that drive it through inject.
import { expect } from 'vitest'
import type { TestBroker } from '../helper.js'

export const HTML = { accept: 'text/html' }

/**
 * A broker's yaml with API-key sign-in to the console. Its public URL is on loopback: with the
 * console on, the config refuses plain http anywhere else (the cookies could not be Secure).
 */
export const KEY_LOGIN = { publicUrl: 'http://127.0.0.1:8080', extra: 'console: { api_key_login: true }' }

/** Signs in with an API key as the sign-in page does; returns the Cookie header to send. */
export async function consoleSignIn(broker: TestBroker, apiKey: string): Promise<string> {
  const page = await broker.app.inject({ method: 'GET', url: '/console/login', headers: HTML })
  expect(page.statusCode).toBe(200)
  const pre = /airlock_csrf=([\w-]+)/.exec(String(page.headers['set-cookie']))?.[1] as string
  const r = await broker.app.inject({
    method: 'POST',
    url: '/console/login/key',
    headers: { ...HTML, cookie: `airlock_csrf=${pre}` },
    payload: { csrf: pre, api_key: apiKey },
  })
  expect(r.statusCode, r.body).toBe(303)
  const session = /airlock_console=([\w-]+)/.exec(String(r.headers['set-cookie']))?.[1] as string
  return `airlock_console=${session}`
}

/** The CSRF token of a signed-in page. */
export async function consoleCsrf(broker: TestBroker, cookie: string): Promise<string> {
  const r = await broker.app.inject({ method: 'GET', url: '/console/sessions', headers: { ...HTML, cookie } })
  return /name="csrf" value="([\w-]+)"/.exec(r.body)?.[1] as string
}
