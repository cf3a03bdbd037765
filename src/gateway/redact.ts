// The upstream credential never comes back to the agent, even when the upstream echoes it: every
// occurrence in response headers and body becomes `[redacted]`. The body is scanned as a stream,
// holding back the last (length - 1) bytes of each chunk so an occurrence split across chunks is
// still found.
import { Transform, type TransformCallback } from 'node:stream'

export const REDACTED = '[redacted]'
const MARK = Buffer.from(REDACTED)

/** Replaces every occurrence of each secret in a buffer. */
function replaceAll(buf: Buffer, secrets: Buffer[]): Buffer {
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

export function redactText(text: string, secrets: string[]): string {
  let out = text
  for (const s of secrets) if (s.length > 0) out = out.split(s).join(REDACTED)
  return out
}

/** A stream that passes bytes through with every secret replaced. */
export function redactStream(secrets: string[]): Transform {
  const bufs = secrets.filter((s) => s.length > 0).map((s) => Buffer.from(s))
  const keep = Math.max(0, ...bufs.map((b) => b.length - 1))
  let tail: Buffer = Buffer.alloc(0)
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      const joined = replaceAll(tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk, bufs)
      // Hold back what could be the start of a secret completed by the next chunk.
      const cut = Math.max(0, joined.length - keep)
      tail = joined.subarray(cut)
      if (cut > 0) this.push(joined.subarray(0, cut))
      cb()
    },
    flush(cb: TransformCallback) {
      if (tail.length > 0) this.push(replaceAll(tail, bufs))
      cb()
    },
  })
}
