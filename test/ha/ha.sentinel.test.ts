// A real Sentinel failover under load: a primary, two replicas and three sentinels; two `airlock
// serve` processes with replica_acks: 1 issue, introspect and revoke in a steady loop while the
// primary is SIGKILLed. Both serve again from the promoted replica, never answer 500, every
// revocation answered 200 before the kill still holds on both, /readyz is green and the audit
// chains verify. The gap from kill to first success is printed (timing belongs in the bench).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newKeys, sessionBody, testConfigYaml } from '../helper.js'
import {
  callApi,
  freePort,
  startBrokerProcess,
  tempDir,
  writeSigningKey,
  type BrokerProcess,
} from '../support/broker-process.js'
import { startSentinelSet, until, type SentinelSet } from '../support/redis-ha.js'

const keys = newKeys()
const prefix = `airlock-test:${Date.now().toString(36)}s:`
let set: SentinelSet
const brokers: BrokerProcess[] = []

const call = (p: BrokerProcess, method: string, path: string, who: keyof typeof keys, body?: unknown) =>
  callApi(p.url, method, path, keys[who], body)

beforeAll(async () => {
  set = await startSentinelSet(2)
  const dir = tempDir()
  const signing = writeSigningKey(dir)
  const sentinels = set.sentinelPorts.map((p) => `"127.0.0.1:${p}"`).join(', ')
  // One after the other, each kept as soon as it runs so afterAll stops it whatever happens.
  for (let i = 0; i < 2; i++) {
    const port = await freePort()
    const path = join(dir, `airlock-${port}.yaml`)
    writeFileSync(
      path,
      testConfigYaml(prefix, keys, {
        port,
        signingKeyPath: signing.path,
        redis: `sentinel: { name: ${set.name}, sentinels: [${sentinels}] }`,
        store: 'replica_acks: 1, replica_ack_timeout: 500ms',
      }),
    )
    // info: the "Server listening" line is how the helper learns the broker is up.
    brokers.push(await startBrokerProcess(path, { AIRLOCK_LOG_LEVEL: 'info' }))
  }
}, 60_000)

afterAll(async () => {
  await Promise.all(brokers.map((b) => b.stop()))
  await set?.stop()
})

interface Load {
  statuses: number[]
  /** Tokens whose revocation answered 200, with when it answered. */
  revoked: { token: string; at: number }[]
  /** When each request that succeeded started, and each grant (a write acknowledged by a replica). */
  successes: number[]
  grants: number[]
  /** A request that got no HTTP answer at all (the broker gone?), with the broker's last words. */
  failure?: string
}

/** issue → introspect → revoke, one after another, until `stop()`; every status is kept. */
function load(p: BrokerProcess) {
  const l: Load = { statuses: [], revoked: [], successes: [], grants: [] }
  let running = true
  const step = async <T>(f: () => Promise<{ status: number; body: T }>) => {
    const started = Date.now()
    const r = await f()
    l.statuses.push(r.status)
    if (r.status < 300) l.successes.push(started)
    return r
  }
  const done = (async () => {
    while (running && !l.failure) {
      const started = Date.now()
      const issued = await step(() => call(p, 'POST', '/v1/sessions', 'build-bot', sessionBody()))
      if (issued.status !== 201) continue
      l.grants.push(started)
      const token = issued.body.grant.token as string
      await step(() => call(p, 'POST', '/v1/introspect', 'internal-api', { token }))
      const revoke = await step(() => call(p, 'DELETE', `/v1/sessions/${issued.body.session.id}`, 'ops'))
      if (revoke.status === 200) l.revoked.push({ token, at: Date.now() })
    }
  })().catch((e: Error) => {
    l.failure = `${e.message} (${String(e.cause)}); broker exit ${p.child.exitCode}: ${p.stderr.slice(-5).join('\n')}`
  })
  return {
    l,
    async stop() {
      running = false
      await done
    },
  }
}

describe('Sentinel failover under load, replica_acks: 1', { timeout: 60_000 }, () => {
  it('both brokers serve again from the promoted replica; revocations answered 200 survive; no 500', async () => {
    const loads = brokers.map(load)
    // Steady state first: each broker has revoked a few tokens through the primary.
    await until('revocations on both brokers', async () => loads.every((x) => x.l.revoked.length >= 3))

    const oldPort = await set.primaryPort()
    const primary = set.nodes.find((n) => n.port === oldPort)
    expect(primary).toBeDefined()
    const killedAt = Date.now()
    await primary?.stop() // SIGKILL, by pid
    const revokedBefore = loads.flatMap((x) => x.l.revoked.filter((r) => r.at <= killedAt))

    await until(
      'a success on each broker after the kill',
      // A loop that lost its broker ends the wait at once: the assertion below names it.
      async () =>
        loads.some((x) => x.l.failure) || loads.every((x) => x.l.successes.some((t) => t > killedAt)),
      30_000,
    )
    expect(loads.map((x) => x.l.failure)).toEqual([undefined, undefined])
    const newPort = await set.failedOver(oldPort, 1)
    await until('a grant on each broker after the kill', async () =>
      loads.every((x) => x.l.grants.some((t) => t > killedAt)),
    )
    const after = (ts: number[]) => (ts.find((t) => t > killedAt) as number) - killedAt
    await Promise.all(loads.map((x) => x.stop()))
    console.log(
      `sentinel failover ${oldPort} -> ${newPort}: gap from SIGKILL to first success ` +
        loads
          .map(
            ({ l }, i) =>
              `broker ${i + 1}: ${after(l.successes)} ms (first grant ${after(l.grants)} ms;` +
              ` ${l.statuses.length} requests, ${l.statuses.filter((s) => s === 503).length} answered 503)`,
          )
          .join(', '),
    )

    expect(loads.map((x) => x.l.failure)).toEqual([undefined, undefined])
    const statuses = loads.flatMap((x) => x.l.statuses)
    expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([])
    expect(revokedBefore.length).toBeGreaterThanOrEqual(6)
    for (const b of brokers) {
      for (const { token } of revokedBefore)
        expect((await call(b, 'POST', '/v1/introspect', 'internal-api', { token })).body).toEqual({
          active: false,
        })
      expect((await fetch(`${b.url}/readyz`)).status).toBe(200)
      expect((await call(b, 'GET', '/v1/audit/verify', 'ops')).body).toMatchObject({ ok: true, problems: [] })
    }
    const out = brokers.flatMap((b) => [...b.stdout, ...b.stderr]).join('\n')
    for (const k of Object.values(keys)) expect(out).not.toContain(k)
  })
})
