// A config reload (SIGHUP): refused when it changes a restart-only setting; otherwise the new
// runtime is swapped in whole, and every live session the new config no longer allows as it stands
// is revoked (audited with the reason, provider credentials revoked through the normal path): one
// that depended on an agent, provider or environment the new config removed (the removed provider
// is kept for that until the broker stops), and one the tightened policy would now refuse or grant
// only with more approvals than it had. Decisions taken under the old config and still being
// written are waited for first (sessions/in-flight.ts), so none lands unjudged after the check.
import type { FastifyBaseLogger } from 'fastify'
import type { Provider } from '../providers/types.js'
import { whyNotStanding } from './approvals/policy-now.js'
import type { AuditLog } from './audit/log.js'
import { removalReason, removedByReload, restartOnlyChanges, type Removed } from './config/reload.js'
import type { AirlockConfig } from './config/types.js'
import type { SessionRecord } from './domain/session.js'
import { ConfigError } from './errors.js'
import type { Runtime } from './runtime.js'
import type { DecisionsInFlight } from './sessions/in-flight.js'
import type { SessionService } from './sessions/service.js'

const RETRY_MS = 5000
/**
 * How long a reload waits for decisions taken under the config it replaced: above the store's
 * command timeout, so only a store that does not answer makes it go on without them.
 */
const SETTLE_MS = 5000

export function createReloader(deps: {
  current: () => Runtime
  /** Builds the runtime for `next` (its deferred secrets resolved first) without swapping it in. */
  build: (next: AirlockConfig) => Promise<Runtime>
  /** Puts `next` in force; runs before the old providers close. */
  swap: (next: Runtime) => Promise<void>
  sessions: () => SessionService
  inFlight: Pick<DecisionsInFlight, 'settled'>
  /** How long a reload waits for decisions in flight (default SETTLE_MS). */
  settleMs?: number
  audit: AuditLog
  log: FastifyBaseLogger
}) {
  const { audit, log } = deps
  const settleMs = deps.settleMs ?? SETTLE_MS
  /** Providers a reload removed, kept for revoking (and retrying) their sessions' credentials. */
  const retired = new Map<string, Provider>()
  /**
   * Removals whose revocation could not finish (the store was down): retried until it does, with
   * the policy in force then judging every other live session again.
   */
  let unfinished: Removed | null = null
  let timer: NodeJS.Timeout | null = null
  /**
   * Reloads run one at a time, in the order asked: each builds against the config in force, and a
   * slow one (a provider's setup) can never swap in after, and so undo, a later one.
   */
  let queue: Promise<unknown> = Promise.resolve()
  /** Runtimes replaced while decisions under them were still being written after the wait. */
  const late = new Set<Runtime>()
  let rejudging = false
  let closed = false

  const merge = (a: Removed | null, b: Removed): Removed =>
    a
      ? {
          agents: new Set([...a.agents, ...b.agents]),
          providers: new Set([...a.providers, ...b.providers]),
          environments: new Set([...a.environments, ...b.environments]),
        }
      : b

  /** Revokes the live sessions `removed` ended or the policy in force no longer allows as they are. */
  async function revokeDependents(removed: Removed): Promise<string[]> {
    const rt = deps.current()
    const reason = (r: SessionRecord) => removalReason(removed, r) ?? whyNotStanding(rt, r)
    try {
      const ids = await deps.sessions().revokeMatching(
        'airlock',
        (r) => reason(r) ?? 'the config no longer allows it',
        (r) => reason(r) !== null,
      )
      unfinished = null
      return ids
    } catch (e) {
      unfinished = merge(unfinished, removed)
      log.error(
        { err: (e as Error).message },
        'sessions the new config removed or no longer allows could not all be revoked; retrying',
      )
      timer ??= setTimeout(() => {
        timer = null
        if (unfinished) void revokeDependents(unfinished)
      }, RETRY_MS)
      timer.unref()
      return []
    }
  }

  /**
   * A decision taken under `old` settled after its reload stopped waiting: every live session is
   * judged again (as a reload would, after the reloads queued before), so its own is too. Those
   * settling together share one pass.
   */
  function rejudgeLate(old: Runtime): void {
    late.add(old)
    if (rejudging || closed) return
    rejudging = true
    queue = queue
      .then(async () => {
        rejudging = false
        // What those configs had and the one in force now has not (a later reload may have put
        // something back).
        const now = deps.current().config
        let removed = unfinished
        for (const o of late) removed = merge(removed, removedByReload(o.config, now))
        late.clear()
        if (removed && !closed) await revokeDependents(removed)
      })
      .catch(() => {})
  }

  async function apply(next: AirlockConfig): Promise<void> {
    const old = deps.current()
    const refused = restartOnlyChanges(old.config, next)
    if (refused.length > 0) throw new ConfigError(refused)
    const built = await deps.build(next)
    const removed = removedByReload(old.config, next)
    for (const name of removed.providers) {
      const p = old.providers.get(name)
      if (p) retired.set(name, p)
    }
    // A provider added back under a retired name: the new instance takes over.
    for (const name of built.providers.keys()) {
      const back = retired.get(name)
      retired.delete(name)
      await back?.close().catch(() => {})
    }
    await deps.swap(built)
    // The new config is in force from here on: an event that cannot be written must neither
    // skip the revocations below nor report that the old config stayed.
    await audit
      .record({
        type: 'config.reloaded',
        actor: 'airlock',
        details: {
          providers: next.providers.length,
          removed: {
            agents: [...removed.agents],
            providers: [...removed.providers],
            environments: [...removed.environments],
          },
        },
      })
      .catch((e: unknown) =>
        log.error(
          { err: (e as Error).message },
          'the config.reloaded event could not be written; the new config is in force',
        ),
      )
    // Requests, approvals and denials decided under the old config may still be on their way to
    // the store: the check below must see what they write. One that takes longer than settleMs
    // (a store that does not answer) is not waited for: its session is judged once it settles.
    if (!(await deps.inFlight.settled(old, settleMs, () => rejudgeLate(old))))
      log.warn(
        { waited_ms: settleMs },
        'decisions taken under the previous config are still being written; their sessions are judged once they are',
      )
    // Every reload judges the live sessions again: any change to the policy, the classes, the
    // humans or the agents' owners may tighten it, and one that does not revokes nothing.
    const ids = await revokeDependents(merge(unfinished, removed))
    if (ids.length > 0)
      log.warn({ sessions: ids.length }, 'revoked the sessions the new config removed or no longer allows')
    for (const [name, p] of old.providers) if (retired.get(name) !== p) await p.close().catch(() => {})
  }

  return {
    retired: (name: string) => retired.get(name),

    reload(next: AirlockConfig): Promise<void> {
      const run = queue.then(() => apply(next))
      queue = run.catch(() => {})
      return run
    },

    async close(): Promise<void> {
      closed = true
      if (timer) clearTimeout(timer)
      for (const p of retired.values()) await p.close().catch(() => {})
      retired.clear()
    },
  }
}
