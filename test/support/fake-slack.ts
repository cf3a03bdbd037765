// A local server speaking the Slack Web API's wire protocol for the three methods Airlock calls
// (chat.postMessage, chat.update, chat.postEphemeral): form or JSON bodies, the bot token as a
// Bearer header (or a `token` field), HTTP 200 with {"ok": false, "error": ...} for API errors as
// Slack answers, and Block Kit limits checked as Slack checks them (`invalid_blocks`). It records
// every call, can be taken down and brought back on the same port, and signs interactions exactly as
// Slack does.
import { createHmac, randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface SlackCall {
  method: string
  args: Record<string, any>
  /** Whether the call carried the right token (calls with a wrong one are recorded too). */
  authed: boolean
  at: number
}

interface Stored {
  channel: string
  ts: string
  text: string
  blocks: any[]
}

const LIMITS = { header: 150, section: 3000, field: 2000, fields: 10, button: 75, blocks: 50, context: 10 }

/** What Slack would say about these blocks: null when they are valid. */
export function blockProblem(blocks: unknown): string | null {
  if (!Array.isArray(blocks) || blocks.length > LIMITS.blocks) return 'blocks must be an array of at most 50'
  const text = (t: any, max: number) =>
    t && (t.type === 'plain_text' || t.type === 'mrkdwn') && typeof t.text === 'string' && t.text.length >= 1
      ? t.text.length <= max
      : false
  for (const b of blocks as any[]) {
    switch (b?.type) {
      case 'header':
        if (!text(b.text, LIMITS.header) || b.text.type !== 'plain_text') return 'header text'
        break
      case 'section':
        if (b.text === undefined && b.fields === undefined) return 'section needs text or fields'
        if (b.text !== undefined && !text(b.text, LIMITS.section)) return 'section text'
        if (b.fields !== undefined) {
          if (!Array.isArray(b.fields) || b.fields.length > LIMITS.fields) return 'section fields'
          if (!b.fields.every((f: any) => text(f, LIMITS.field))) return 'section field text'
        }
        break
      case 'context':
        if (!Array.isArray(b.elements) || b.elements.length > LIMITS.context) return 'context elements'
        if (!b.elements.every((e: any) => text(e, LIMITS.section))) return 'context text'
        break
      case 'actions':
        if (!Array.isArray(b.elements) || b.elements.length > 25) return 'actions elements'
        for (const e of b.elements) {
          if (e.type !== 'button' || !text(e.text, LIMITS.button) || e.text.type !== 'plain_text')
            return 'button'
          if (typeof e.action_id !== 'string' || e.action_id.length > 255) return 'button action_id'
          if (typeof e.value !== 'string' || e.value.length > 2000) return 'button value'
        }
        break
      case 'divider':
        break
      default:
        return `unknown block type ${String(b?.type)}`
    }
  }
  return null
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export async function fakeSlack(opts: { token: string }) {
  const calls: SlackCall[] = []
  const messages = new Map<string, Stored>()
  const events = new EventEmitter()
  events.setMaxListeners(100)
  let seq = 0
  let port = 0
  let server: Server | null = null
  // While held, requests are read but not answered (Slack being slow).
  let held: { arrived: () => void; released: Promise<void> } | null = null

  const api = async (method: string, args: Record<string, any>, token: string | undefined) => {
    if (token === undefined) return { ok: false, error: 'not_authed' }
    if (token !== opts.token) return { ok: false, error: 'invalid_auth' }
    const blocks = args['blocks']
    switch (method) {
      case 'chat.postMessage': {
        if (!args['channel']) return { ok: false, error: 'channel_not_found' }
        if (!args['text'] && !blocks) return { ok: false, error: 'no_text' }
        if (blocks !== undefined && blockProblem(blocks)) return { ok: false, error: 'invalid_blocks' }
        const ts = `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`
        // Slack answers with the channel's id even when a name was given.
        const channel = String(args['channel']).startsWith('#') ? 'C0RESOLVED' : String(args['channel'])
        const m = { channel, ts, text: String(args['text'] ?? ''), blocks: blocks ?? [] }
        messages.set(ts, m)
        return { ok: true, channel, ts, message: { type: 'message', text: m.text, blocks: m.blocks, ts } }
      }
      case 'chat.update': {
        const m = messages.get(String(args['ts']))
        if (!m) return { ok: false, error: 'message_not_found' }
        if (m.channel !== args['channel']) return { ok: false, error: 'channel_not_found' }
        if (blocks !== undefined && blockProblem(blocks)) return { ok: false, error: 'invalid_blocks' }
        m.text = String(args['text'] ?? m.text)
        m.blocks = blocks ?? m.blocks
        return {
          ok: true,
          channel: m.channel,
          ts: m.ts,
          text: m.text,
          message: { text: m.text, blocks: m.blocks },
        }
      }
      case 'chat.postEphemeral':
        if (!args['channel'] || !args['user']) return { ok: false, error: 'user_not_in_channel' }
        return { ok: true, message_ts: `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}` }
      default:
        return { ok: false, error: 'unknown_method' }
    }
  }

  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      const s = createServer(async (req, res) => {
        const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0] ?? ''
        const raw = await readBody(req)
        if (held) {
          held.arrived()
          await held.released
        }
        const json = (req.headers['content-type'] ?? '').includes('application/json')
        const args: Record<string, any> = json
          ? (safeJson(raw) ?? {})
          : Object.fromEntries(new URLSearchParams(raw).entries())
        const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
        const token: string | undefined = bearer ?? args['token']
        delete args['token']
        // Form bodies carry blocks as a JSON string; record them parsed (invalid JSON stays a string).
        if (typeof args['blocks'] === 'string') args['blocks'] = safeJson(args['blocks']) ?? args['blocks']
        const body = await api(method, args, token)
        const call = { method, args, authed: token === opts.token, at: Date.now() }
        calls.push(call)
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
        res.end(JSON.stringify(body))
        events.emit('call', call)
      })
      s.once('error', reject)
      s.listen(p, '127.0.0.1', () => {
        server = s
        port = (s.address() as AddressInfo).port
        resolve()
      })
    })

  await listen(0)
  const stop = () =>
    new Promise<void>((resolve) => {
      const s = server
      server = null
      if (!s) return resolve()
      s.closeAllConnections()
      s.close(() => resolve())
    })

  return {
    calls,
    messages,
    /** The Web API base, as `slack.api_url`. */
    get url() {
      return `http://127.0.0.1:${port}/api/`
    },
    /** Resolves with the first call (already made or still to come) that matches, or fails after `ms`. */
    waitFor(match: (c: SlackCall) => boolean, ms = 10_000): Promise<SlackCall> {
      const found = calls.find(match)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          events.off('call', on)
          reject(new Error(`fake Slack: no matching call within ${ms} ms (${calls.length} calls)`))
        }, ms)
        const on = (c: SlackCall) => {
          if (!match(c)) return
          clearTimeout(timer)
          events.off('call', on)
          resolve(c)
        }
        events.on('call', on)
      })
    },
    /** Slack turns slow: requests arrive but get no answer until `release()`. */
    hold() {
      let arrived!: () => void
      let release!: () => void
      const arrivedP = new Promise<void>((r) => (arrived = r))
      const released = new Promise<void>((r) => (release = r))
      held = { arrived, released }
      return {
        arrived: arrivedP,
        release: () => {
          held = null
          release()
        },
      }
    },
    /** Connection refused from now on, as when Slack cannot be reached. */
    down: stop,
    /** Listening again on the same port. */
    up: () => listen(port),
    close: stop,
  }
}

function safeJson(s: string): any {
  try {
    return JSON.parse(s)
  } catch {
    return undefined
  }
}

export type FakeSlack = Awaited<ReturnType<typeof fakeSlack>>

/** Every text of a message's blocks, with its object type. */
export function texts(blocks: any[]): { type: string; text: string }[] {
  const out: { type: string; text: string }[] = []
  const walk = (x: any) => {
    if (Array.isArray(x)) return x.forEach(walk)
    if (x && typeof x === 'object') {
      if ((x.type === 'plain_text' || x.type === 'mrkdwn') && typeof x.text === 'string') out.push(x)
      Object.values(x).forEach(walk)
    }
  }
  walk(blocks)
  return out
}

/** A block_actions interaction as Slack sends it: the form body and its signature headers. */
export function interaction(o: {
  secret: string
  user: string
  action: string
  value: string
  channel?: string
  messageTs?: string
  /** Unix seconds; default now. */
  timestamp?: number
}) {
  const channel = o.channel ?? 'C0APPROVALS'
  const ts = o.messageTs ?? '1700000000.000100'
  const payload = {
    type: 'block_actions',
    user: { id: o.user, username: o.user.toLowerCase(), name: o.user.toLowerCase(), team_id: 'T0TEAM' },
    api_app_id: 'A0AIRLOCK',
    token: 'deprecated-verification-token',
    container: { type: 'message', message_ts: ts, channel_id: channel, is_ephemeral: false },
    // Unique per click, as Slack's are: two clicks never make the same signed body.
    trigger_id: `${Date.now()}.${randomBytes(8).toString('hex')}`,
    team: { id: 'T0TEAM', domain: 'acme' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: channel, name: 'approvals' },
    message: { type: 'message', ts, text: 'Approval needed', blocks: [] },
    state: { values: {} },
    response_url: 'https://hooks.slack.com/actions/T0TEAM/1/abc',
    actions: [
      {
        action_id: o.action,
        block_id: 'airlock_decide',
        text: { type: 'plain_text', text: 'Approve', emoji: true },
        value: o.value,
        type: 'button',
        action_ts: `${Math.floor(Date.now() / 1000)}.000200`,
      },
    ],
  }
  return signedForm(
    o.secret,
    new URLSearchParams({ payload: JSON.stringify(payload) }).toString(),
    o.timestamp,
  )
}

export function signedForm(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)) {
  const t = String(timestamp)
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${t}:${body}`).digest('hex')}`
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': t,
      'x-slack-signature': signature,
    },
  }
}
