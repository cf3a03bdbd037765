// Writes that land but are acknowledged by too few Redis replicas, without stopping a replica: the
// store's compare-and-set is wrapped once, so a claim's activation can be made "unacknowledged"
// and the broker undoes the claim (the `unclaim` step) before answering 503.
import { expect, vi } from 'vitest'
import { ReplicaAckError } from '../../src/store/durable.js'
import type { Store } from '../../src/store/types.js'
import { client, type TestBroker } from '../helper.js'

type Write = (...args: any[]) => Promise<unknown>

/**
 * The next call of `obj[method]` after `skip` more lands (answers 'ok'), then throws as if too few
 * replicas acknowledged it; `meanwhile` runs between the two (another writer getting in before
 * the broker reacts).
 */
export function landsUnacked<K extends string>(
  obj: Record<K, Write>,
  method: K,
  skip = 0,
  meanwhile?: () => Promise<unknown>,
): void {
  const real = obj[method].bind(obj)
  const spy = vi.spyOn(obj as { write: Write }, method as 'write')
  for (let i = 0; i < skip; i++) spy.mockImplementationOnce(real)
  spy.mockImplementationOnce(async (...args: unknown[]) => {
    expect(await real(...args)).toBe('ok')
    await meanwhile?.()
    throw new ReplicaAckError(0, 1, 300)
  })
}

/** The store's next compare-and-set after `skip` more lands, then answers as if unacknowledged. */
export const unackedCas = (store: Store, skip = 0, meanwhile?: () => Promise<unknown>): void =>
  landsUnacked(store, 'casSession', skip, meanwhile)

/**
 * Claims the approved session `id` as build-bot while its activation lands unacknowledged: the
 * answer is the 503 that invites a retry. Returns the claim's `session.claim_undone` event.
 */
export async function claimUndone(t: TestBroker, id: string): Promise<Record<string, any>> {
  unackedCas(t.broker.store, 1) // the claim lands; its activation is not acknowledged
  const first = await client(t.app, t.keys).post(`/v1/sessions/${id}/grant`, 'build-bot')
  expect(first.status).toBe(503)
  expect(first.body.message).toMatch(/can still be claimed: retry/)
  const undone = t.audit
    .map((l) => JSON.parse(l) as Record<string, any>)
    .find((e) => e.session_id === id && e.type === 'session.claim_undone')
  expect(undone).toBeDefined()
  return undone as Record<string, any>
}
