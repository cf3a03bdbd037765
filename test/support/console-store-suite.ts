// The console's records (sessions with their per-person index, sign-ins in progress) and the
// change feed's "any session" watch: one suite for every store (test/console/console-store.test.ts,
// and Redis Cluster in test/ha/ha.cluster.test.ts).
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import { ANY_SESSION } from '../../src/store/types.js'
import type { Fixture, Kind } from './store-kinds.js'

export function consoleStoreSuite(kind: Kind) {
  let fx: Fixture
  beforeEach(async () => {
    fx = await kind.open()
  })
  afterEach(async () => {
    await fx.close()
  })

  it('put, get, take once, delete; an update only over a record still there', async () => {
    const s = fx.store
    expect(await s.putConsoleRecord('session', 'a', '{"n":1}', 60_000)).toBe(true)
    expect(await s.getConsoleRecord('session', 'a')).toBe('{"n":1}')
    // Kinds are separate name spaces.
    expect(await s.getConsoleRecord('login', 'a')).toBeNull()
    expect(await s.putConsoleRecord('session', 'a', '{"n":2}', 60_000, true)).toBe(true)
    expect(await s.getConsoleRecord('session', 'a')).toBe('{"n":2}')
    await s.deleteConsoleRecord('session', 'a')
    // A sign-out between a read and its touch wins: the touch does not bring it back.
    expect(await s.putConsoleRecord('session', 'a', '{"n":3}', 60_000, true)).toBe(false)
    expect(await s.getConsoleRecord('session', 'a')).toBeNull()

    await s.putConsoleRecord('login', 'state', 'x', 60_000)
    const both = await Promise.all([
      s.takeConsoleRecord('login', 'state'),
      s.takeConsoleRecord('login', 'state'),
    ])
    expect(both.sort()).toEqual([null, 'x'])
  })

  it('a record lapses after its time to live', async () => {
    await fx.store.putConsoleRecord('session', 'short', 'x', 30)
    await fx.expireLease('unused', 30)
    await vi.waitFor(async () => expect(await fx.store.getConsoleRecord('session', 'short')).toBeNull(), {
      timeout: 2000,
      interval: 10,
    })
  })

  it('ends every console session of one person at once, through another handle too', async () => {
    const s = fx.store
    await s.putConsoleRecord('session', 'b1', 'x', 60_000, false, 'bob')
    await s.putConsoleRecord('session', 'b2', 'y', 60_000, false, 'bob')
    await s.putConsoleRecord('session', 'a1', 'z', 60_000, false, 'alice')
    // A touch keeps the session indexed; a signed-out one is not counted.
    expect(await s.putConsoleRecord('session', 'b2', 'y2', 60_000, true, 'bob')).toBe(true)
    await s.putConsoleRecord('session', 'b3', 'w', 60_000, false, 'bob')
    expect(await s.takeConsoleRecord('session', 'b3', 'bob')).toBe('w')
    const peer = await fx.peer()
    expect(await peer.endConsoleSessions('bob')).toBe(2)
    expect(await s.getConsoleRecord('session', 'b1')).toBeNull()
    expect(await s.getConsoleRecord('session', 'b2')).toBeNull()
    expect(await s.getConsoleRecord('session', 'a1')).toBe('z')
    expect(await s.endConsoleSessions('bob')).toBe(0)
    // A touch after the operator ended it does not bring it back.
    expect(await s.putConsoleRecord('session', 'b1', 'x', 60_000, true, 'bob')).toBe(false)
    expect(await s.endConsoleSessions('nobody')).toBe(0)
  })

  it('a watch on ANY_SESSION hears a change to any session', async () => {
    const peer = await fx.peer()
    const { changed } = await fx.store.watchChange(ANY_SESSION, 5000)
    const start = Date.now()
    peer.publishChange('ses_anything')
    await changed
    expect(Date.now() - start).toBeLessThan(4000)
  })
}
