// The upstream credential never comes back to the agent, even when the upstream echoes it: every
// occurrence in response headers and body becomes `[redacted]`. A small body is redacted whole; a
// streamed one chunk by chunk, holding back only a chunk's end that could begin a secret (most
// chunks end with none), so an occurrence split across chunks is still found.
import { Transform, type TransformCallback } from 'node:stream'

export const REDACTED = '[redacted]'
const MARK = Buffer.from(REDACTED)

/** The secrets as bytes to search for: empty ones and repeats left out. */
export function secretBytes(secrets: string[]): Buffer[] {
  return [...new Set(secrets.filter((s) => s.length > 0))].map((s) => Buffer.from(s))
}

/** Replaces every occurrence of each secret in a buffer (the buffer itself when there is none). */
export function redactBuffer(buf: Buffer, secrets: Buffer[]): Buffer {
  let out: Buffer = buf
  for (const s of secrets) {
    let at = out.indexOf(s)
    if (at < 0) continue
    const parts: Buffer[] = []
    let from = 0
    while (at >= 0) {
      parts.push(out.subarray(from, at), MARK)
      from = at + s.length
      at = out.indexOf(s, from)
    }
    parts.push(out.subarray(from))
    out = Buffer.concat(parts)
  }
  return out
}

/**
 * The length of the longest end of `buf` that is the beginning (not the whole) of a secret: what
 * must wait for the next chunk. Only positions holding a secret's first byte are compared.
 */
export function pendingLength(buf: Buffer, secrets: Buffer[]): number {
  let best = 0
  for (const s of secrets) {
    const max = Math.min(s.length - 1, buf.length)
    if (max <= best) continue
    const first = s[0] as number
    // The earliest candidate start gives the longest end: stop at the first that matches.
    for (let i = buf.indexOf(first, buf.length - max); i >= 0; i = buf.indexOf(first, i + 1)) {
      const len = buf.length - i
      if (len <= best) break
      if (buf.compare(s, 0, len, i) === 0) {
        best = len
        break
      }
    }
  }
  return best
}

export function redactText(text: string, secrets: string[]): string {
  let out = text
  for (const s of secrets) if (s.length > 0 && out.includes(s)) out = out.split(s).join(REDACTED)
  return out
}

/** A stream that passes bytes through with every secret (as from secretBytes) replaced. */
export function redactStream(bufs: Buffer[]): Transform {
  let carry: Buffer | null = null
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      const joined = redactBuffer(carry ? Buffer.concat([carry, chunk]) : chunk, bufs)
      const held = pendingLength(joined, bufs)
      const cut = joined.length - held
      // A copy: the held bytes are few and must not keep the whole chunk alive.
      carry = held > 0 ? Buffer.from(joined.subarray(cut)) : null
      cb(null, cut > 0 ? joined.subarray(0, cut) : undefined)
    },
    flush(cb: TransformCallback) {
      // What is held is a secret's beginning, never a whole one: it goes out as it is.
      cb(null, carry ?? undefined)
    },
  })
}
