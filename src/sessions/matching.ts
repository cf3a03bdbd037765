// The live sessions a filter hits: what a bulk revoke ends and what the console's preview of it
// lists, found by one scan, so the preview names exactly the sessions the confirmed revoke ends.
// Live means live now: a session past its deadline is already expired (the sweeper records it),
// so it is neither listed nor revoked.
import type { Clock } from '../clock.js'
import { effectiveStatus, type SessionRecord } from '../domain/session.js'
import { isFinal } from '../domain/status.js'
import { StoreUnavailableError } from '../errors.js'
import type { Store } from '../store/types.js'

/** Records read per store call. */
const CHUNK = 500

/**
 * The live sessions `match` accepts, a chunk at a time (each checked at the clock's time when it
 * is read, so a long revoke does not end sessions that expired meanwhile). `only`: just these ids
 * (a provider's list); default: every live one. A record that cannot be read is passed over, and
 * its error thrown once every other chunk was yielded.
 */
export async function* liveMatching(
  deps: { store: Store; clock: Clock },
  match: (r: SessionRecord) => boolean,
  only?: string[],
): AsyncGenerator<SessionRecord[]> {
  const ids = only ?? (await deps.store.liveSessionIds())
  let failure: unknown = null
  for (let i = 0; i < ids.length; i += CHUNK) {
    // One record that cannot be read (its profile lost with a failover) must not keep the rest
    // of its chunk from being revoked: it is passed over, and the error comes last.
    const unreadable: string[] = []
    const recs = await deps.store.getSessions(ids.slice(i, i + CHUNK), unreadable)
    if (unreadable.length > 0)
      failure ??= new StoreUnavailableError(
        `the profile of session ${unreadable[0] as string} is missing; retry`,
      )
    const now = deps.clock.now()
    const hits = recs.filter(
      (r): r is SessionRecord => r !== null && !isFinal(effectiveStatus(r, now)) && match(r),
    )
    if (hits.length > 0) yield hits
  }
  if (failure) throw failure
}
