// Instants as the API writes them (RFC 3339, UTC, milliseconds).

// toISOString costs about a microsecond, and a grant formats the same few instants several times
// (deadlines are whole seconds): a small direct-mapped cache keeps the hot path from repeating it.
const isoKeys = new Float64Array(64).fill(NaN)
const isoValues: string[] = new Array<string>(64).fill('')

export const iso = (ms: number): string => {
  const slot = ms & 63
  if (isoKeys[slot] === ms) return isoValues[slot] as string
  const s = new Date(ms).toISOString()
  isoKeys[slot] = ms
  isoValues[slot] = s
  return s
}
