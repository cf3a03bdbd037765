// What a tool result may carry of a command's output: every credential of the session replaced by
// `[redacted]`, in the forms a program is likely to print it (as is, inside a JSON string,
// URL-encoded, base64, UTF-16 as UTF-8 reads it), an escape's hex digits matched in either case.
import type { Grant } from '../client/sessions.js'
import { redactText, searchForms } from '../gateway/redact.js'
import {
  base64Forms,
  foldHex,
  hasEscape,
  jsonForms,
  MIN_FORM,
  urlForms,
  utf16Forms,
} from '../gateway/secret-forms.js'

/** Credential fields that describe a grant rather than unlock anything: left readable. */
const DESCRIPTIVE = new Set([
  'expiration',
  'expires_at',
  'region',
  'host',
  'port',
  'database',
  'username',
  'access_key_id',
])
/** `url`, and GitHub's `api_url` and `server_url`: secret only when they hold a secret. */
const isUrl = (k: string) => k === 'url' || k.endsWith('_url')

const encodedForms = (v: string) => base64Forms(v).filter((f) => f.length >= MIN_FORM)
/** As it is, URL-encoded, and inside a JSON string (from MIN_FORM characters, like base64). */
const plainForms = (v: string) => [...urlForms(v), ...jsonForms(v).filter((f) => f.length >= MIN_FORM)]

/** Every form of one secret to look for. */
const formsOf = (value: string): string[] => [...new Set([...plainForms(value), ...encodedForms(value)])]

/** The secret values of a grant: the session token and every credential that is not descriptive. */
export function secretsOf(grant: Grant): string[] {
  const out = [grant.token]
  for (const [k, v] of Object.entries(grant.credentials)) {
    if (typeof v !== 'string' || DESCRIPTIVE.has(k) || v === '') continue
    // A URL is secret when it holds one (a postgres URL with its password), not for being a URL:
    // a gateway or GitHub URL says where to send requests, nothing the agent could misuse, and
    // redacting it would garble every link to that server in the output.
    if (isUrl(k)) continue
    out.push(v)
  }
  const forms = out.flatMap(formsOf)
  for (const [k, v] of Object.entries(grant.credentials)) {
    if (isUrl(k) && typeof v === 'string' && forms.some((f) => v.includes(f))) out.push(v)
  }
  return out
}

export interface Redactor {
  /** Replaces every form of every secret. */
  redact(text: string): string
  /**
   * Redacts the start of a longer output cut at `limit` characters: a secret cut in two at the end
   * of what was kept is dropped with the rest rather than shown in part.
   */
  redactHead(text: string, limit: number, cut: boolean): string
}

/** Whether `text` ends with `head`, hex digits' case free where `form` holds an escape. */
const endsWithForm = (text: string, head: string, form: string) =>
  hasEscape(form) ? foldHex(text.slice(-head.length)) === foldHex(head) : text.endsWith(head)

const unique = (xs: string[]) => [...new Set(xs)].filter(Boolean).sort((a, b) => b.length - a.length)

export function redactor(secrets: readonly string[]): Redactor {
  // Longest first, so a URL holding a password is replaced whole before the password inside it.
  const plain = unique(secrets.flatMap(plainForms))
  const encoded = unique(secrets.flatMap(encodedForms))
  const text = unique([...plain, ...encoded])
  // A command that writes UTF-16 (read as UTF-8: ASCII's characters and NULs).
  const forms = unique([...secrets.flatMap(utf16Forms), ...text])
  if (forms.length === 0) return { redact: (t) => t, redactHead: (t, limit) => t.slice(0, limit) }
  // Found as the gateway finds them (redact.ts): an escape's hex digits in either case, and a
  // base64 form with the whole run of base64 characters around it, wrapped over lines or not.
  const search = searchForms(text, encoded, secrets)
  const redact = (text: string) => redactText(text, search)
  return {
    redact,
    redactHead(text, limit, cut) {
      let out = redact(text)
      if (cut) {
        // The kept text ends where the output was cut: drop a trailing start of any form.
        for (const f of forms) {
          for (let n = Math.min(f.length - 1, out.length); n >= 4; n--) {
            if (endsWithForm(out, f.slice(0, n), f)) {
              out = out.slice(0, -n)
              break
            }
          }
        }
      }
      return out.length > limit ? out.slice(0, limit) : out
    },
  }
}
