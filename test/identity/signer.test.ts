// The signing thread: correct signatures for each caller, both algorithms, and failure handling.
import { generateKeyPairSync, verify, type KeyObject } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { createThreadSigner, type Signer } from '../../src/tokens/signer.js'

const ed = generateKeyPairSync('ed25519')
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const checks = (pub: KeyObject, alg: 'EdDSA' | 'ES256', input: string, sig: string) =>
  alg === 'EdDSA'
    ? verify(null, Buffer.from(input), pub, Buffer.from(sig, 'base64url'))
    : verify(
        'sha256',
        Buffer.from(input),
        { key: pub, dsaEncoding: 'ieee-p1363' },
        Buffer.from(sig, 'base64url'),
      )

let signer: Signer
afterEach(async () => {
  await signer.close()
})

describe('the signing thread', () => {
  it('gives every caller the signature of its own input, for both algorithms and many at once', async () => {
    signer = createThreadSigner()
    const jobs = Array.from({ length: 600 }, (_, i) => ({
      input: `header.payload-${i}`,
      alg: i % 3 === 0 ? ('ES256' as const) : ('EdDSA' as const),
    }))
    const sigs = await Promise.all(
      jobs.map((j) => signer.sign(j.alg === 'EdDSA' ? ed.privateKey : ec.privateKey, j.alg, j.input)),
    )
    jobs.forEach((j, i) => {
      const pub = j.alg === 'EdDSA' ? ed.publicKey : ec.publicKey
      expect(checks(pub, j.alg, j.input, sigs[i] as string)).toBe(true)
      // Not just some valid signature: not the neighbour's.
      if (i > 0)
        expect(checks(pub, j.alg, (jobs[i - 1] as { input: string }).input, sigs[i] as string)).toBe(false)
    })
    expect(sigs[1]?.length).toBe(86) // 64 bytes of Ed25519 in base64url
    expect(sigs[0]?.length).toBe(86) // 64 bytes of r || s for P-256
  })

  it('rejects a signature it cannot make and goes on signing', async () => {
    signer = createThreadSigner()
    await expect(signer.sign(ed.privateKey, 'ES256', 'x.y')).rejects.toThrow(/could not be made/)
    expect(checks(ed.publicKey, 'EdDSA', 'x.y', await signer.sign(ed.privateKey, 'EdDSA', 'x.y'))).toBe(true)
  })

  it('fails what a lost thread held, then starts a new one (keys included)', async () => {
    signer = createThreadSigner()
    await signer.sign(ed.privateKey, 'EdDSA', 'warm.up')
    const first = signer.thread()
    expect(first).not.toBeNull()
    // More work than the thread can finish before it is stopped: what it signed in time is correct,
    // and everything it still held fails with the thread's exit (none hangs).
    const doomed = Array.from({ length: 2000 }, (_, i) => signer.sign(ed.privateKey, 'EdDSA', `a.${i}`))
    // The batch goes to the thread at the end of this turn: stopped before then, the thread would
    // exit holding nothing, and a fresh one would sign it all.
    await new Promise((sent) => setImmediate(sent))
    expect(signer.thread()).toBe(first)
    void first?.terminate()
    const settled = await Promise.allSettled(doomed)
    const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected')
    expect(failed.length).toBeGreaterThan(0)
    for (const f of failed) expect(String(f.reason)).toMatch(/signing thread exited/)
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') expect(checks(ed.publicKey, 'EdDSA', `a.${i}`, s.value)).toBe(true)
    })

    const sig = await signer.sign(ed.privateKey, 'EdDSA', 'after.loss')
    expect(checks(ed.publicKey, 'EdDSA', 'after.loss', sig)).toBe(true)
    expect(signer.thread()).not.toBe(first)
  })

  it('signs again with a key it was told to forget (the key is sent anew)', async () => {
    signer = createThreadSigner()
    await signer.sign(ed.privateKey, 'EdDSA', 'first')
    signer.forget(ed.privateKey)
    signer.forget(ec.privateKey) // never sent: nothing to do
    const sig = await signer.sign(ed.privateKey, 'EdDSA', 'second')
    expect(checks(ed.publicKey, 'EdDSA', 'second', sig)).toBe(true)
  })

  it('after close, rejects pending and new signatures and holds no thread', async () => {
    signer = createThreadSigner()
    await signer.sign(ed.privateKey, 'EdDSA', 'warm.up')
    const pending = expect(signer.sign(ed.privateKey, 'EdDSA', 'p.q')).rejects.toThrow(/closed/)
    await signer.close()
    await pending
    await expect(signer.sign(ed.privateKey, 'EdDSA', 'r.s')).rejects.toThrow(/closed/)
    expect(signer.thread()).toBeNull()
  })
})
