// The console's cookies: the signed-in session (HttpOnly, SameSite=Strict, Secure and __Host- behind
// https), the browser binding of an OIDC sign-in in progress (SameSite=Lax: it must come back with
// the provider's redirect), and the form token of the sign-in page before anyone is signed in.
export interface CookieNames {
  session: string
  login: string
  preCsrf: string
}

export const cookieNames = (secure: boolean): CookieNames =>
  secure
    ? { session: '__Host-airlock_console', login: '__Host-airlock_login', preCsrf: '__Host-airlock_csrf' }
    : { session: 'airlock_console', login: 'airlock_login', preCsrf: 'airlock_csrf' }

/** The named cookie's value from a Cookie header (the first one of that name). */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header || header.length > 16_384) return null
  for (const part of header.split(';')) {
    const i = part.indexOf('=')
    if (i < 0 || part.slice(0, i).trim() !== name) continue
    const v = part.slice(i + 1).trim()
    // Our values are base64url; anything else is not ours.
    return /^[A-Za-z0-9_-]{1,200}$/.test(v) ? v : null
  }
  return null
}

export function setCookie(
  name: string,
  value: string,
  o: { secure: boolean; sameSite: 'Strict' | 'Lax'; maxAgeSeconds?: number },
): string {
  const parts = [`${name}=${value}`, 'Path=/', 'HttpOnly', `SameSite=${o.sameSite}`]
  if (o.secure) parts.push('Secure')
  if (o.maxAgeSeconds !== undefined) parts.push(`Max-Age=${Math.max(0, Math.floor(o.maxAgeSeconds))}`)
  return parts.join('; ')
}

export const clearCookie = (name: string, secure: boolean, sameSite: 'Strict' | 'Lax' = 'Strict'): string =>
  setCookie(name, '', { secure, sameSite, maxAgeSeconds: 0 })
