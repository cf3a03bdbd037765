// Decisions in flight. A request, an approval or a denial is decided under the runtime in force
// when it starts, and written a store round trip (or an audit batch) later. A reload swaps the new
// runtime in and then judges every live session under it; a decision of the old runtime written
// after that judgment would escape it. So each decision is counted against the runtime it was taken
// under until its write settles (landed or failed), and a reload waits for the old runtime's count
// to reach zero before it judges. A write that failed by timing out (Redis frozen rather than gone:
// see commandTimeout in src/redis/client.ts) may still land later, but Redis runs it before the
// judgment's reads sent after it on the same connection, so they see it. (With store.replica_acks
// decisions are written on a connection of their own, which keeps no such order; the caller of such
// a write got a 503 and no token.) The count is a few operations in memory per decision, no store
// round trip. Each replica counts its own decisions: its own reload drains them, and every replica
// reloads (a replica not reloaded yet still decides under its old config, but then its reload,
// after its own drain, judges what it wrote).
import type { Runtime } from '../runtime.js'

interface Generation {
  /** Decisions taken under this runtime whose writes have not settled. */
  n: number
  /** Called when `n` reaches zero. */
  idle: (() => void)[]
  /** After a reload stopped waiting for them: called as each remaining decision settles. */
  late: (() => void) | null
}

export interface DecisionsInFlight {
  /**
   * The runtime in force, counted as deciding until `done` is called (once the write that records
   * the decision has landed or failed; calling it again does nothing).
   */
  begin(): { rt: Runtime; done: () => void }
  /**
   * Resolves true once no decision taken under `rt` is in flight, or false after `ms` (a store
   * that does not answer must not hold a reload up forever); from then on `late` is called each
   * time one of the remaining decisions settles.
   */
  settled(rt: Runtime, ms: number, late: () => void): Promise<boolean>
}

export function createDecisionsInFlight(runtime: () => Runtime): DecisionsInFlight {
  // Keyed by the runtime itself: a runtime no longer in force, and no longer used, is collected.
  const generations = new WeakMap<Runtime, Generation>()

  return {
    begin() {
      const rt = runtime()
      let g = generations.get(rt)
      if (!g) generations.set(rt, (g = { n: 0, idle: [], late: null }))
      const gen = g
      gen.n++
      let open = true
      const done = () => {
        if (!open) return
        open = false
        gen.n--
        gen.late?.()
        if (gen.n === 0) for (const f of gen.idle.splice(0)) f()
      }
      return { rt, done }
    },

    settled(rt, ms, late) {
      const g = generations.get(rt)
      if (!g || g.n === 0) return Promise.resolve(true)
      const gen = g
      return new Promise<boolean>((resolve) => {
        const idle = () => {
          clearTimeout(timer)
          resolve(true)
        }
        const timer = setTimeout(() => {
          gen.idle = gen.idle.filter((f) => f !== idle)
          gen.late = late
          resolve(false)
        }, ms)
        gen.idle.push(idle)
      })
    },
  }
}
