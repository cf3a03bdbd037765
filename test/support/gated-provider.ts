// A stand-in for an external credential backend (the shape AWS and PostgreSQL will have): issuing
// can be held open by the test, and revocations can be made to fail, so races are deterministic.
import type { Provider, RevokeInput } from '../../providers/types.js'

export interface Deferred<T = void> {
  promise: Promise<T>
  resolve(v: T): void
}
export const deferred = <T = void>(): Deferred<T> => {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

export function gatedProvider(name = 'ext-api') {
  const state = {
    issued: [] as string[],
    /** The issue attempt of each issue() call, in order. */
    attempts: [] as string[],
    revoked: [] as RevokeInput[],
    gate: null as null | { started: Deferred<string>; release: Deferred },
    failIssue: null as string | null,
    failRevokes: 0,
  }
  const provider: Provider = {
    name,
    type: 'jwt',
    audience: name,
    external: true,
    supportsEnvironment: () => true,
    setup: async () => {},
    async issue(input) {
      state.issued.push(input.sessionId)
      state.attempts.push(input.attempt)
      if (state.gate) {
        state.gate.started.resolve(input.sessionId)
        await state.gate.release.promise
      }
      if (state.failIssue) throw new Error(state.failIssue)
      return { credentials: { username: `u_${input.sessionId}` }, handle: { role: `r_${input.sessionId}` } }
    },
    async revoke(input) {
      if (state.failRevokes > 0) {
        state.failRevokes--
        throw new Error('backend unreachable')
      }
      state.revoked.push(input)
    },
    reap: async () => 0,
    health: async () => ({ ok: true, error: null }),
    secretRotated: async () => {},
    close: async () => {},
  }
  /** Holds the next issue() open until `release()`; `started` resolves with the session id. */
  const hold = () => {
    const g = { started: deferred<string>(), release: deferred() }
    state.gate = g
    return {
      started: g.started.promise,
      release: () => {
        state.gate = null
        g.release.resolve()
      },
    }
  }
  return { provider, state, hold }
}
