// Calibration routes, on a bare fastify server: POST /sign does only an EdDSA signature
// (jose) and one Redis write; POST /verify only a verification (jose) and one Redis read.
// POST /sign-audited is /sign whose write also appends a hash-chained audit event in the same
// script, by group commit as Airlock's audit log does: the least any issue route that audits
// each grant in its write round trip does, so the floor under issue's share of /sign. The
// benchmark runs them beside Airlock on the same machine and Redis, so Airlock's figures can be
// read against the reference figures (about 15,000 and 12,000 req/s for these routes on the reference machine).
// Usage: node --import tsx bench/baseline-server.ts <port> <redis url> <key prefix>
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { generateKeyPair, jwtVerify, SignJWT } from 'jose'
import { hash, randomUUID } from 'node:crypto'

const [port, redisUrl, prefix] = process.argv.slice(2)
if (!port || !redisUrl || !prefix) {
  console.error('usage: baseline-server <port> <redis url> <key prefix>')
  process.exit(64)
}
const redis = new Redis(redisUrl, { enableAutoPipelining: true })
const { privateKey, publicKey } = await generateKeyPair('EdDSA')
const app = Fastify({ logger: false })

app.post('/sign', async () => {
  const jti = randomUUID()
  const token = await new SignJWT({ sub: 'bench-bot' })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
    .setIssuedAt()
    .setExpirationTime('15m')
    .setJti(jti)
    .sign(privateKey)
  await redis.set(`${prefix}${jti}`, '1', 'PX', 900_000)
  return { token }
})

redis.defineCommand('createAudited', {
  numberOfKeys: 2,
  // ARGV: head, then (session key, audit line) pairs.
  lua: `for i = 2, #ARGV, 2 do
  redis.call('SET', ARGV[i], '1', 'PX', 900000)
  redis.call('XADD', KEYS[1], '*', 'e', ARGV[i + 1])
end
redis.call('SET', KEYS[2], ARGV[1])
return 1`,
})
const audited = redis as Redis & { createAudited(...args: string[]): Promise<number> }
let seq = 0
let prev = '0'.repeat(64)
let queue: { key: string; line: string; done: (e?: unknown) => void }[] = []
let flushing = false
const flush = async () => {
  if (flushing) return
  flushing = true
  while (queue.length > 0) {
    const batch = queue
    queue = []
    const args = batch.flatMap((b) => [b.key, b.line])
    await audited.createAudited(`${prefix}audit`, `${prefix}head`, `${seq}:${prev}`, ...args).then(
      () => batch.forEach((b) => b.done()),
      (e: unknown) => batch.forEach((b) => b.done(e)),
    )
  }
  flushing = false
}

app.post('/sign-audited', async () => {
  const jti = randomUUID()
  const token = await new SignJWT({ sub: 'bench-bot' })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
    .setIssuedAt()
    .setExpirationTime('15m')
    .setJti(jti)
    .sign(privateKey)
  const event = JSON.stringify({
    actor: 'bench-bot',
    at: new Date().toISOString(),
    chain: 'bare',
    details: { environment: 'staging', operation_class: 'read', provider: 'internal-api', ttl_seconds: 900 },
    prev_hash: prev,
    seq: ++seq,
    session_id: jti,
    type: 'session.issued',
  })
  prev = hash('sha256', event, 'hex')
  await new Promise<void>((resolve, reject) => {
    queue.push({
      key: `${prefix}${jti}`,
      line: `${event.slice(0, -1)},"hash":"${prev}"}`,
      done: (e) => (e === undefined ? resolve() : reject(e as Error)),
    })
    void flush()
  })
  return { token }
})

app.post<{ Body: { token: string } }>('/verify', async (req) => {
  const { payload } = await jwtVerify(req.body.token, publicKey)
  return { active: (await redis.get(`${prefix}${payload.jti}`)) !== null }
})

await app.listen({ port: Number(port), host: '127.0.0.1' })
const stop = () => void app.close().finally(() => redis.disconnect())
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
