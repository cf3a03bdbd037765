// Provider and library errors can quote what they were given (a connection URL, a request with a
// key). Before such a message is logged, returned or audited, credential material is cut out.
const RULES: [RegExp, string][] = [
  [/-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)/g, '[redacted pem]'],
  [/\bBearer\s+[^\s"',]+/gi, 'Bearer [redacted]'],
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1[redacted]@'],
  [
    /\b(password|passwd|pwd|secret|token|key|signature|credential|authorization)(["']?\s*[=:]\s*["']?)[^\s"',;&]+/gi,
    '$1$2[redacted]',
  ],
  [/\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, '[redacted key id]'],
  [/\bxox[abprs]-[A-Za-z0-9-]+/g, '[redacted slack token]'],
  [/\bak_[A-Za-z0-9_-]{8,}/g, '[redacted api key]'],
  [/\bgh[pousr]_[A-Za-z0-9_.-]{16,}/g, '[redacted github token]'],
  // Long opaque runs (40-char AWS secrets, session tokens, JWT parts) are never useful in a message.
  [/[A-Za-z0-9/+_-]{40,}={0,2}/g, '[redacted]'],
]

export function scrub(message: string): string {
  let out = message
  for (const [re, to] of RULES) out = out.replace(re, to)
  return out.split('\n')[0]!.slice(0, 300)
}
