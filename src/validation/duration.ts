// Durations in the config are strings like `90s`, `15m`, `1h`: an integer and one unit, nothing
// else, so a typo (`15 m`, `1.5h`, `15min`) is an error instead of a silent surprise.

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
type Unit = keyof typeof UNITS

export const DURATION_PATTERN = '^[0-9]{1,9}(ms|s|m|h|d)$'
const DURATION_RE = new RegExp(DURATION_PATTERN)
export const DURATION_HINT = 'expected a duration like 90s, 15m, 1h'

/** Milliseconds for `500ms`, `90s`, `15m`, `1h`, `90d`. Zero is rejected unless `allowZero`. */
export function parseDuration(s: string, opts: { allowZero?: boolean } = {}): number {
  const m = DURATION_RE.exec(s)
  if (!m) throw new Error(DURATION_HINT)
  const unit = m[1] as Unit
  const ms = Number(s.slice(0, s.length - unit.length)) * UNITS[unit]
  if (ms === 0 && !opts.allowZero) throw new Error(`${DURATION_HINT}, greater than zero`)
  return ms
}

/** The shortest exact form: 90000 → `90s`, 5400000 → `90m`, 1500 → `1500ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0)
    throw new Error('expected a whole, non-negative number of milliseconds')
  if (ms === 0) return '0s'
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms % UNITS[unit] === 0) return `${ms / UNITS[unit]}${unit}`
  }
  return `${ms}ms`
}
