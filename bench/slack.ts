// Measures the approval flow with Slack: how fast a signed button click is answered (Slack wants
// three seconds), how long until a pending request's message reaches Slack, and what an outage
// costs in retries. A real broker listening on a port, a real Redis, the real @slack/web-api client
// against the local Slack Web API server of the tests. Not a test: it asserts nothing, it reports.
// Run: `npx tsx bench/slack.ts [--n 200] [--outage-seconds 5]`. Only its own key prefix is touched.
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { parseConfig } from '../src/config/load.js'
import { createLogger } from '../src/log.js'
import { buildBroker } from '../src/broker.js'
import { generateSigningKey } from '../src/tokens/keys.js'
import { fakeSlack, interaction } from '../test/support/fake-slack.js'
import { deletePrefix, newKeys, sessionBody, testConfigYaml } from '../test/support/fixtures.js'
import { redisServer, type RedisServer } from '../test/support/redis-server.js'

const { values: args } = parseArgs({
  options: { n: { type: 'string', default: '200' }, 'outage-seconds': { type: 'string', default: '5' } },
})
const N = Number(args.n)
const OUTAGE_S = Number(args['outage-seconds'])
const log = (s: string) => process.stderr.write(`bench: ${s}\n`)
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}
const summary = (xs: number[]) =>
  `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (n=${xs.length})`

const TOKEN = `xoxb-bench-${randomBytes(8).toString('hex')}`
const SECRET = `bench-${randomBytes(8).toString('hex')}`

let own: RedisServer | null = null
const redisUrl = process.env['REDIS_URL'] ?? (own = await redisServer()).url
const prefix = `airlock-bench:${randomBytes(6).toString('hex')}:`
const slack = await fakeSlack({ token: TOKEN })
const keys = newKeys()
const config = parseConfig(testConfigYaml(prefix, keys, { slack: { apiUrl: slack.url } }), {
  baseDir: process.cwd(),
  env: { REDIS_URL: redisUrl, SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SECRET },
})
const broker = await buildBroker(
  {
    config,
    logger: createLogger({ level: 'error' }),
  },
  {
    sweeper: false,
    auditOut: () => {},
    signingKey: await generateSigningKey('EdDSA'),
    slackRetry: { baseMs: 250, maxMs: 2000 },
  },
)
const base = await broker.app.listen({ host: '127.0.0.1', port: 0 })

const post = async (path: string, who: keyof typeof keys, body: unknown) => {
  const r = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys[who]}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: r.status, body: (await r.json()) as Record<string, any> }
}
const request = async (task: string) => {
  const r = await post(
    '/v1/sessions',
    'other-bot',
    sessionBody({ operation_class: 'destructive', task: { id: task } }),
  )
  if (r.status !== 202) throw new Error(`request: ${r.status}`)
  return r.body['session'].id as string
}
const postedFor = (sid: string) =>
  slack.waitFor(
    (c) => c.method === 'chat.postMessage' && JSON.stringify(c.args['blocks']).includes(sid),
    60_000,
  )
const clickAt = async (user: string, sid: string) => {
  const c = interaction({ secret: SECRET, user, action: 'airlock_approve', value: sid })
  const t0 = performance.now()
  const r = await fetch(`${base}/slack/interactions`, { method: 'POST', headers: c.headers, body: c.body })
  await r.text()
  if (r.status !== 200) throw new Error(`click: ${r.status}`)
  return performance.now() - t0
}
const metric = async (name: string) => {
  const text = await (await fetch(`${base}/metrics`)).text()
  return Number(
    text
      .split('\n')
      .find((l) => l.startsWith(`${name} `))
      ?.split(' ')[1] ?? 0,
  )
}

try {
  // 1. Requests going pending, and the time until their message is in Slack.
  const requestMs: number[] = []
  const toSlackMs: number[] = []
  const sids: string[] = []
  for (let i = 0; i < N; i++) {
    const t0 = performance.now()
    const sid = await request(`BENCH-${i}`)
    requestMs.push(performance.now() - t0)
    await postedFor(sid)
    toSlackMs.push(performance.now() - t0)
    sids.push(sid)
  }
  log(`POST /v1/sessions (pending):        ${summary(requestMs)}`)
  log(`request -> message in Slack:        ${summary(toSlackMs)}`)

  // 2. Clicks, one at a time (first approvals), then 50 at once (second approvals).
  const sequential: number[] = []
  for (const sid of sids) sequential.push(await clickAt('U0ALICE', sid))
  log(`click (approve 1 of 2), sequential: ${summary(sequential)}`)
  const concurrent = await Promise.all(sids.slice(0, 50).map((sid) => clickAt('U0CAROL', sid)))
  log(`click (approve 2 of 2), 50 at once: ${summary(concurrent)}`)
  const refused = await Promise.all(sids.slice(50, 100).map((sid) => clickAt('U0BOB', sid)))
  log(`click refused (owner), 50 at once:  ${summary(refused)}`)

  // 3. An outage: Slack unreachable while requests arrive, then back.
  const retriesBefore = await metric('airlock_slack_calls_total{method="chat.postMessage",result="retry"}')
  await slack.down()
  const outage = performance.now()
  const during: string[] = []
  const duringMs: number[] = []
  while (performance.now() - outage < OUTAGE_S * 1000) {
    const t0 = performance.now()
    during.push(await request(`OUTAGE-${during.length}`))
    duringMs.push(performance.now() - t0)
    await new Promise((r) => setTimeout(r, 250))
  }
  await slack.up()
  const back = performance.now()
  await Promise.all(during.map(postedFor))
  const retries =
    (await metric('airlock_slack_calls_total{method="chat.postMessage",result="retry"}')) - retriesBefore
  log(`outage of ${OUTAGE_S} s: ${during.length} requests still answered (${summary(duringMs)})`)
  log(`  failed post attempts (retried with backoff): ${retries}`)
  log(
    `  all ${during.length} messages in Slack ${((performance.now() - back) / 1000).toFixed(2)} s after it came back`,
  )
} finally {
  await broker.close()
  await slack.close()
  await deletePrefix(redisUrl, prefix)
  await own?.stop()
}
