// Writes that land but are acknowledged by too few Redis replicas, without stopping a replica: the
// store's compare-and-set is wrapped once, so a claim's activation can be made "unacknowledged"
// and the broker undoes the claim (the `unclaim` step) before answering 503.
import { expect, vi } from 'vitest'
import { ReplicaAckError } from '../../src/store/durable.js'
import type { Store } from '../../src/store/types.js'

/** The store's next compare-and-set after `skip` more lands, then answers as if unacknowledged. */
export function unackedCas(store: Store, skip = 0): void {
  const real = store.casSession.bind(store)
  const spy = vi.spyOn(store, 'casSession')
  for (let i = 0; i < skip; i++) spy.mockImplementationOnce(real)
  spy.mockImplementationOnce(async (...args) => {
    expect(await real(...args)).toBe('ok')
    throw new ReplicaAckError(0, 1, 300)
  })
}
