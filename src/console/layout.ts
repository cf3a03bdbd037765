// The page frame every console page shares: one stylesheet and one script (both same-origin
// static files: the Content-Security-Policy allows nothing inline), a navigation by role, the
// sign-out form, and a place for messages. Pages that update by themselves name their event
// stream in `data-live` and mark the parts to refresh with `data-live-region`.
import type { RouteRole } from '../auth/principal.js'
import { html, type Html, type Part } from './html.js'

export interface Viewer {
  id: string
  roles: readonly RouteRole[]
  csrf: string
}

export type Section = 'pending' | 'sessions' | 'locks' | 'audit' | 'providers' | 'people'

export interface PageOptions {
  title: string
  viewer: Viewer | null
  assets: { css: string; js: string }
  section?: Section
  /** The event stream that tells this page to refresh itself. */
  live?: string
  /** A message about what the last action did. */
  notice?: string | null
  /** Go on to this same-origin page at once (after an OIDC sign-in). */
  refresh?: string
}

const NAV: { section: Section; label: string; href: string; roles: RouteRole[] }[] = [
  { section: 'pending', label: 'Pending', href: '/console', roles: ['approver', 'operator'] },
  { section: 'sessions', label: 'Sessions', href: '/console/sessions', roles: ['approver', 'operator'] },
  { section: 'locks', label: 'Locks', href: '/console/locks', roles: ['operator'] },
  { section: 'audit', label: 'Audit', href: '/console/audit', roles: ['operator'] },
  { section: 'providers', label: 'Providers', href: '/console/providers', roles: ['operator'] },
  { section: 'people', label: 'People', href: '/console/people', roles: ['operator'] },
]

export const csrfField = (v: Viewer): Html => html`<input type="hidden" name="csrf" value="${v.csrf}" />`

export function page(o: PageOptions, body: Part): string {
  const v = o.viewer
  const nav = v
    ? NAV.filter((n) => n.roles.some((r) => v.roles.includes(r))).map(
        (n) =>
          html`<li>
            <a href="${n.href}" ${n.section === o.section ? html` aria-current="page"` : ''}>${n.label}</a>
          </li>`,
      )
    : []
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · Airlock console</title>
${o.refresh ? html`<meta http-equiv="refresh" content="0;url=${o.refresh}" />` : ''}
<link rel="stylesheet" href="${o.assets.css}">
<script src="${o.assets.js}" defer></script>
</head>
<body${o.live ? html` data-live="${o.live}"` : ''}>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="/console">Airlock</a>
${
  nav.length > 0
    ? html`<nav aria-label="Console">
        <ul>
          ${nav}
        </ul>
      </nav>`
    : ''
}
${
  v
    ? html`<form class="signout" method="post" action="/console/logout">
        ${csrfField(v)}<span>Signed in as <strong>${v.id}</strong></span>
        <button type="submit">Sign out</button>
      </form>`
    : ''
}
</header>
<main id="main" tabindex="-1">
<h1>${o.title}</h1>
${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''}
${o.live ? html`<p class="live-status" id="live-status" aria-live="polite">Updates by itself.</p>` : ''}
${body}
</main>
</body>
</html>
`.value
}

/** A page that says what went wrong and what to do. */
export function errorPage(
  o: Omit<PageOptions, 'title'> & { status: number; message: string; requestId: string; back?: string },
): string {
  const title =
    o.status === 401
      ? 'Sign in again'
      : o.status === 403
        ? 'Not allowed'
        : o.status === 404
          ? 'Not found'
          : o.status === 409 || o.status === 410
            ? 'Not possible any more'
            : o.status >= 500
              ? 'Something is unavailable'
              : 'That did not work'
  return page(
    { ...o, title },
    html`<p class="error" role="alert">${o.message}</p>
      <p class="muted">Status ${o.status}; request id <code>${o.requestId}</code>.</p>
      <p><a href="${o.back ?? '/console'}">${o.status === 401 ? 'Sign in' : 'Back'}</a></p>`,
  )
}

/** A date for people: UTC, to the second, in a <time> element. */
export const when = (iso: string | null): Html | string =>
  iso === null
    ? '—'
    : html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')}</time>`
