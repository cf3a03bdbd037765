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
import { randomUUID } from 'node:crypto'
import { chainedLog } from './lib/chained-log.js'

const [port, redisUrl, prefix] = process.argv.slice(2)
if (!port || !redisUrl || !prefix) {
  console.error('usage: baseline-server <port> <redis url> <key prefix>')
  process.exit(64)
}
const redis = new Redis(redisUrl, { enableAutoPipelining: true })
const { privateKey, publicKey } = await generateKeyPair('EdDSA')
const app = Fastify({ logger: false })

/** A token as Airlock's are shaped, and its jti. */
const signToken = async () => {
  const jti = randomUUID()
  const token = await new SignJWT({ sub: 'bench-bot' })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
    .setIssuedAt()
    .setExpirationTime('15m')
    .setJti(jti)
    .sign(privateKey)
  return { jti, token }
}

app.post('/sign', async () => {
  const { jti, token } = await signToken()
  await redis.set(`${prefix}${jti}`, '1', 'PX', 900_000)
  return { token }
})

redis.defineCommand('createAudited', {
  numberOfKeys: 2,
  // ARGV: the chain's head, then (session key, audit line) pairs.
  lua: `for i = 2, #ARGV, 2 do
  redis.call('SET', ARGV[i], '1', 'PX', 900000)
  redis.call('XADD', KEYS[1], '*', 'e', ARGV[i + 1])
end
redis.call('SET', KEYS[2], ARGV[1])
return 1`,
})
const audited = redis as Redis & { createAudited(...args: string[]): Promise<number> }
const log = chainedLog<string>((head, batch) =>
  audited.createAudited(`${prefix}audit`, `${prefix}head`, head, ...batch.flatMap((b) => [b.with, b.line])),
)

app.post('/sign-audited', async () => {
  const { jti, token } = await signToken()
  const details = {
    environment: 'staging',
    operation_class: 'read',
    provider: 'internal-api',
    ttl_seconds: 900,
  }
  await log.record(
    { actor: 'bench-bot', chain: 'bare', details, session_id: jti, type: 'session.issued' },
    `${prefix}${jti}`,
  )
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
