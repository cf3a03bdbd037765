// Calibration routes, on a bare fastify server: POST /sign does only an EdDSA signature
// (jose) and one Redis write; POST /verify only a verification (jose) and one Redis read. The
// benchmark runs them beside Airlock on the same machine and Redis, so Airlock's figures can be
// read against the reference figures (about 15,000 and 12,000 req/s for these routes on the reference machine).
// Usage: node --import tsx bench/baseline-server.ts <port> <redis url> <key prefix>
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { generateKeyPair, jwtVerify, SignJWT } from 'jose'
import { randomUUID } from 'node:crypto'

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

app.post<{ Body: { token: string } }>('/verify', async (req) => {
  const { payload } = await jwtVerify(req.body.token, publicKey)
  return { active: (await redis.get(`${prefix}${payload.jti}`)) !== null }
})

await app.listen({ port: Number(port), host: '127.0.0.1' })
const stop = () => void app.close().finally(() => redis.disconnect())
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
