// The console's one script. Pages work without it (plain forms and links); with it:
// - forms marked data-confirm ask before they submit;
// - a page whose <body> names an event stream (data-live) refreshes its [data-live-region] parts
//   when the broker says something changed, keeping any field the person is typing in;
// - a stream that says the sign-in ended takes the page to the sign-in page.
// Only textContent and nodes parsed from the broker's own escaped HTML are ever inserted.

function confirmations(): void {
  document.addEventListener('submit', (e) => {
    const form = e.target
    if (!(form instanceof HTMLFormElement)) return
    const question = form.dataset['confirm']
    if (question && !window.confirm(question)) e.preventDefault()
  })
}

/** A region the person is working in: a focused field, or one whose value differs from the page's. */
function busy(region: Element): boolean {
  if (region.contains(document.activeElement) && document.activeElement !== document.body) {
    const a = document.activeElement
    if (a instanceof HTMLInputElement || a instanceof HTMLTextAreaElement || a instanceof HTMLSelectElement)
      return true
  }
  for (const f of Array.from(region.querySelectorAll('textarea, input[type="text"], input:not([type])'))) {
    const field = f as HTMLInputElement | HTMLTextAreaElement
    if (field.value !== field.defaultValue) return true
  }
  return false
}

let refreshing = false
let again = false

async function refresh(status: HTMLElement | null): Promise<void> {
  if (refreshing) {
    again = true
    return
  }
  refreshing = true
  try {
    do {
      again = false
      const res = await fetch(window.location.href, {
        headers: { accept: 'text/html', 'x-airlock-live': '1' },
        credentials: 'same-origin',
        redirect: 'manual',
      })
      if (res.type === 'opaqueredirect' || res.status === 401) {
        window.location.assign('/console/login?ended=1')
        return
      }
      if (!res.ok) continue
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html')
      for (const region of Array.from(document.querySelectorAll('[data-live-region]'))) {
        const next = region.id ? doc.getElementById(region.id) : null
        if (!next) continue
        // Keep a form the person is filling in, unless it is gone from the new page (decided elsewhere).
        const keep = busy(region) && next.querySelector('form') !== null
        if (!keep) region.replaceWith(document.importNode(next, true))
      }
      if (status) status.textContent = `Updated ${new Date().toLocaleTimeString()}.`
    } while (again)
  } catch {
    if (status) status.textContent = 'Could not refresh; reload the page.'
  } finally {
    refreshing = false
  }
}

function live(): void {
  const url = document.body.dataset['live']
  if (!url || typeof EventSource === 'undefined') return
  const status = document.getElementById('live-status')
  const events = new EventSource(url)
  events.addEventListener('change', () => void refresh(status))
  events.addEventListener('signed-out', () => {
    events.close()
    window.location.assign('/console/login?ended=1')
  })
  events.addEventListener('open', () => {
    document.body.dataset['liveState'] = 'open'
  })
}

confirmations()
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', live)
else live()
