// Token signatures are made on one dedicated thread, in batches. Why not crypto.sign's callback
// form: it hands every signature to libuv's shared threadpool (4 threads), which on a small
// machine take the event loop's core and wake it once per token; one thread fed a batch per
// event-loop turn leaves the event loop its core and wakes it once per batch. It also keeps DNS or
// file work on the threadpool from delaying grants. The key object is sent to the thread
// (KeyObjects are cloneable), never exported.
import type { KeyObject } from 'node:crypto'
import { Worker } from 'node:worker_threads'

export interface Signer {
  /** Resolves with the base64url signature of `input` under `key`; rejects if the thread fails. */
  sign(key: KeyObject, alg: 'EdDSA' | 'ES256', input: string): Promise<string>
  close(): Promise<void>
  /** Lets the thread drop a key no longer used (after a rotation). */
  forget(key: KeyObject): void
  /** The signing thread while one runs (started by the first signature). */
  thread(): Worker | null
}

interface Job {
  input: string
  alg: 'EdDSA' | 'ES256'
  key: KeyObject
  resolve: (sig: string) => void
  reject: (e: Error) => void
}

// Plain CommonJS so it runs the same from src (tests, tsx) and from dist, with no file to resolve.
const WORKER = `
const { parentPort } = require('node:worker_threads')
const { sign } = require('node:crypto')
const keys = new Map()
parentPort.on('message', (m) => {
  if (m.key) { keys.set(m.key.id, m.key.object); return }
  if (m.drop !== undefined) { keys.delete(m.drop); return }
  const sigs = new Array(m.inputs.length)
  for (let i = 0; i < sigs.length; i++) {
    try {
      const key = keys.get(m.keys[i])
      sigs[i] = m.algs[i] === 'EdDSA'
        ? sign(null, Buffer.from(m.inputs[i]), key).toString('base64url')
        : sign('sha256', Buffer.from(m.inputs[i]), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')
    } catch (e) {
      sigs[i] = null
    }
  }
  parentPort.postMessage({ batch: m.batch, sigs })
})
`

const MAX_BATCH = 256

export function createThreadSigner(): Signer {
  let worker: Worker | null = null
  let closed = false
  let queue: Job[] = []
  let scheduled = false
  let nextBatch = 0
  const inFlight = new Map<number, Job[]>()
  // Keys the current thread holds, by object; ids are per signer (a new thread gets them again).
  let keyIds = new WeakMap<KeyObject, number>()
  let nextKey = 0

  const failAll = (e: Error) => {
    for (const jobs of inFlight.values()) for (const j of jobs) j.reject(e)
    inFlight.clear()
  }

  const start = (): Worker => {
    const w = new Worker(WORKER, { eval: true })
    w.unref()
    w.on('message', (m: { batch: number; sigs: (string | null)[] }) => {
      const jobs = inFlight.get(m.batch)
      inFlight.delete(m.batch)
      jobs?.forEach((j, i) => {
        const sig = m.sigs[i]
        if (sig) j.resolve(sig)
        else j.reject(new Error('the signature could not be made'))
      })
    })
    // A failed thread fails what it held; the next batch starts a fresh one.
    const lost = (why: string) => {
      if (worker !== w) return
      worker = null
      keyIds = new WeakMap()
      failAll(new Error(`the signing thread ${why}`))
    }
    w.on('error', (e) => lost(`failed: ${e.message}`))
    w.on('exit', (code) => lost(`exited (${code})`))
    return w
  }

  const keyId = (w: Worker, key: KeyObject): number => {
    let id = keyIds.get(key)
    if (id === undefined) {
      id = nextKey++
      keyIds.set(key, id)
      w.postMessage({ key: { id, object: key } })
    }
    return id
  }

  const flush = () => {
    scheduled = false
    if (queue.length === 0) return
    if (closed) {
      for (const j of queue) j.reject(new Error('the signer is closed'))
      queue = []
      return
    }
    if (!worker) {
      try {
        worker = start()
      } catch (e) {
        const failure = new Error(`the signing thread cannot start: ${(e as Error).message}`)
        for (const j of queue) j.reject(failure)
        queue = []
        return
      }
    }
    const w = worker
    while (queue.length > 0) {
      const jobs = queue.length > MAX_BATCH ? queue.splice(0, MAX_BATCH) : queue
      if (jobs === queue) queue = []
      const batch = nextBatch++
      inFlight.set(batch, jobs)
      w.postMessage({
        batch,
        inputs: jobs.map((j) => j.input),
        algs: jobs.map((j) => j.alg),
        keys: jobs.map((j) => keyId(w, j.key)),
      })
    }
  }

  return {
    sign(key, alg, input) {
      return new Promise<string>((resolve, reject) => {
        queue.push({ input, alg, key, resolve, reject })
        // One message per event-loop turn: everything signed in this turn goes together.
        if (!scheduled) {
          scheduled = true
          setImmediate(flush)
        }
      })
    },
    forget(key) {
      const id = keyIds.get(key)
      if (id === undefined) return
      keyIds.delete(key)
      // After any batch already posted with it: the thread handles messages in order.
      worker?.postMessage({ drop: id })
    },
    thread: () => worker,
    async close() {
      closed = true
      const w = worker
      worker = null
      const e = new Error('the signer is closed')
      failAll(e)
      for (const j of queue) j.reject(e)
      queue = []
      if (w) await w.terminate()
    },
  }
}
