// Output for people (tables, colour on a TTY unless NO_COLOR) and for machines (--json).
const colourOn = (): boolean => process.stdout.isTTY === true && !process.env['NO_COLOR']

const paint = (code: number) => (s: string) => (colourOn() ? `\u001b[${code}m${s}\u001b[0m` : s)
export const red = paint(31)
export const green = paint(32)
export const yellow = paint(33)
export const dim = paint(2)
export const bold = paint(1)

export function statusColour(status: string): string {
  if (status === 'active' || status === 'approved') return green(status)
  if (status === 'pending_approval') return yellow(status)
  return red(status)
}

export const printJson = (value: unknown): void =>
  void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)

/** A plain aligned table; `cells` may carry colour codes, widths ignore them. */
export function printTable(headers: string[], rows: string[][]) {
  // eslint-disable-next-line no-control-regex
  const visible = (s: string) => s.replace(/\u001b\[\d+m/g, '').length
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => visible(r[i] ?? ''))))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - visible(c))))
      .join('  ')
      .trimEnd()
  process.stdout.write(`${bold(line(headers))}\n`)
  for (const r of rows) process.stdout.write(`${line(r)}\n`)
}
