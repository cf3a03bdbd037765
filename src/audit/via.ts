// Which channel a person acted through (`via`: api, slack, console). The approval flow names it
// itself; for everything else (revocations, locks) the console runs its calls inside `actingVia`,
// and every event those calls record with that person as actor carries `details.via`. The services
// stay the ones the API calls, with the same rules and the same events.
import { AsyncLocalStorage } from 'node:async_hooks'
import type { AuditInput } from './log.js'

export type Via = 'api' | 'slack' | 'console'

const current = new AsyncLocalStorage<{ via: Via; actor: string }>()

/** Runs `f` with every audit event that `actor` causes in it marked `via`. */
export const actingVia = <T>(via: Via, actor: string, f: () => Promise<T>): Promise<T> =>
  current.run({ via, actor }, f)

/** The event with `details.via` added when it is the acting person's and names no channel yet. */
function withVia(e: AuditInput): AuditInput {
  const ctx = current.getStore()
  if (!ctx || e.actor !== ctx.actor || (e.details && 'via' in e.details)) return e
  return { ...e, details: { ...e.details, via: ctx.via } }
}

/** The events as recorded: unchanged (and not copied) outside `actingVia`. */
export const tagVia = (events: AuditInput[]): AuditInput[] =>
  current.getStore() === undefined ? events : events.map(withVia)
