// How much the server's JavaScript heap may grow past what it holds. V8 lets the old generation
// grow up to 4x its live size between full collections when it has memory to spare; under steady
// traffic a broker's garbage (requests, Redis replies and the Buffers they hold) then fills that
// headroom, and its resident memory rises by half or more over the first minutes and stays up.
// Growing by at most HEAP_GROWING_PERCENT keeps it near its live size, for a few more (mostly
// concurrent) full collections. Flags given to node (argv or NODE_OPTIONS) win.
import { setFlagsFromString } from 'node:v8'

export const HEAP_GROWING_PERCENT = 30

export function limitHeapGrowth(): void {
  const given = [...process.execArgv, process.env['NODE_OPTIONS'] ?? '']
  if (given.some((a) => /--heap[-_]growing[-_]percent/.test(a))) return
  // Read by V8 at each full collection, so setting it once the process runs takes effect.
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}
