// Slack request signing: `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<raw body>` keyed with the
// app's signing secret, sent as X-Slack-Signature with X-Slack-Request-Timestamp. Requests more than
// five minutes from our clock are refused, so a captured request cannot be replayed later.
import { createHmac, timingSafeEqual } from 'node:crypto'

export const MAX_SKEW_SECONDS = 5 * 60

export type SignatureCheck = { ok: true } | { ok: false; reason: string }

export function slackSignature(secret: string, timestamp: string, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`
}

export function verifySlackSignature(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  body: string,
  nowMs: number,
): SignatureCheck {
  const { timestamp, signature } = headers
  // An HMAC keyed with '' is one anyone can compute: no signature is valid without a secret.
  if (secret === '') return { ok: false, reason: 'no Slack signing secret is configured' }
  if (!timestamp || !signature) return { ok: false, reason: 'missing Slack signature headers' }
  if (!/^[0-9]{1,12}$/.test(timestamp)) return { ok: false, reason: 'malformed Slack request timestamp' }
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > MAX_SKEW_SECONDS) {
    return { ok: false, reason: 'stale Slack request timestamp (more than five minutes from now)' }
  }
  const expected = Buffer.from(slackSignature(secret, timestamp, body))
  const given = Buffer.from(signature)
  // Equal lengths first (timingSafeEqual needs them); the length of a valid signature is no secret.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad Slack signature' }
  }
  return { ok: true }
}
