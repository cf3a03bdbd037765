// Where a V8 CPU profile (node --cpu-prof, or `npm run bench:gateway -- --cpu-prof DIR`) spent its
// time: the functions with the most self time, then self and total time by package or source file,
// and total time by function.
// Usage: tsx bench/cpu-profile.ts FILE.cpuprofile [--top 30] [--skip SECONDS] [--until SECONDS]
// [--callers NAME [--depth 8]]. --skip leaves out the first seconds (start-up), --until what follows a moment
// (one scenario of several); --callers lists the stacks (--depth frames deep) that lead to a function.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface Node {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: Node[]
  samples: number[]
  timeDeltas: number[]
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '30' },
    skip: { type: 'string', default: '0' },
    until: { type: 'string' },
    callers: { type: 'string' },
    depth: { type: 'string', default: '8' },
  },
})
const file = positionals[0]
if (!file) {
  console.error(
    'usage: tsx bench/cpu-profile.ts FILE.cpuprofile [--top 30] [--skip S] [--until S] [--callers NAME] [--depth 8]',
  )
  process.exit(64)
}
// Piped into head: a closed pipe ends the listing, quietly.
process.stdout.on('error', () => process.exit(0))
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile
const top = Number(values.top)
const depth = Number(values.depth)

const byId = new Map(prof.nodes.map((n) => [n.id, n]))
const parent = new Map<number, number>()
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

/** A package (node_modules/x or @scope/x), a project file, node's internals or V8's own entries. */
function where(url: string): string {
  if (url === '') return '(native)'
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m) return m[1] as string
  if (url.startsWith('node:')) return url
  const p = /\/((?:src|providers|bench|test)\/.*)$/.exec(url)
  return p ? (p[1] as string) : url
}
const fnName = (n: Node) => {
  const f = n.callFrame
  return `${f.functionName || '(anonymous)'} ${where(f.url)}:${f.lineNumber + 1}`
}

const selfTime = new Map<number, number>()
let total = 0
let clock = 0
const skipUs = Number(values.skip) * 1e6
const untilUs = values.until === undefined ? Infinity : Number(values.until) * 1e6
prof.samples.forEach((id, i) => {
  const dt = prof.timeDeltas[i] ?? 0
  clock += dt
  if (clock < skipUs || clock > untilUs) return
  selfTime.set(id, (selfTime.get(id) ?? 0) + dt)
  total += dt
})

const idle = new Set(['(idle)', '(program)', '(garbage collector)'])
const fnSelf = new Map<string, number>()
const placeSelf = new Map<string, number>()
const placeTotal = new Map<string, number>()
const fnTotal = new Map<string, number>()
for (const [id, t] of selfTime) {
  const n = byId.get(id) as Node
  const name = idle.has(n.callFrame.functionName) ? n.callFrame.functionName : fnName(n)
  fnSelf.set(name, (fnSelf.get(name) ?? 0) + t)
  const place = idle.has(n.callFrame.functionName) ? n.callFrame.functionName : where(n.callFrame.url)
  placeSelf.set(place, (placeSelf.get(place) ?? 0) + t)
  // Total: each place once per sample stack, however often it recurs in it.
  const seen = new Set<string>()
  const seenFn = new Set<string>()
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const node = byId.get(cur) as Node
    const p = idle.has(node.callFrame.functionName) ? node.callFrame.functionName : where(node.callFrame.url)
    const f = fnName(node)
    if (!seenFn.has(f)) {
      seenFn.add(f)
      fnTotal.set(f, (fnTotal.get(f) ?? 0) + t)
    }
    if (p === '(native)' || seen.has(p)) continue
    seen.add(p)
    placeTotal.set(p, (placeTotal.get(p) ?? 0) + t)
  }
}

const busy = total - (fnSelf.get('(idle)') ?? 0)
const pct = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)}%`
const print = (title: string, m: Map<string, number>, n: number) => {
  console.log(`\n${title}`)
  const rows = [...m].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1])
  for (const [k, t] of rows.slice(0, n)) console.log(`${pct(t)}  ${k}`)
}
console.log(
  `${(total / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (percentages are of busy time)`,
)
print('self time by function', fnSelf, top)
print('self time by package or file', placeSelf, top)
print('total time by package or file (callees included)', placeTotal, top)
print('total time by function (callees included)', fnTotal, top)

if (values.callers) {
  const stacks = new Map<string, number>()
  for (const [id, t] of selfTime) {
    if (!fnName(byId.get(id) as Node).startsWith(values.callers)) continue
    const frames: string[] = []
    for (let cur = parent.get(id); cur !== undefined && frames.length < depth; cur = parent.get(cur))
      frames.push(fnName(byId.get(cur) as Node))
    const key = frames.join(' < ')
    stacks.set(key, (stacks.get(key) ?? 0) + t)
  }
  print(`stacks leading to ${values.callers}`, stacks, top)
}
