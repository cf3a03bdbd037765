// The three Slack Web API calls Airlock makes, through @slack/web-api pointed at `slack.api_url`.
// The library's own retries are off: a failed call goes back to the durable outbox, which retries
// with backoff (and survives restarts). Errors are reduced to a code and a retry hint; the library's
// error objects (which can hold request headers, including the bot token) never leave this file.
import { WebClient, type Logger, LogLevel } from '@slack/web-api'
import type { SlackConfig } from '../config/types.js'
import type { MessageRef } from './outbox.js'
import type { SlackMessage } from './render.js'

export interface SlackCallError {
  /** Slack's error code (`invalid_auth`, `ratelimited`, ...) or `network`, `http_503`, `timeout`. */
  code: string
  /** Worth another try later (a fix of the config, an outage ending, a rate limit passing). */
  retryable: boolean
  /** Slack's Retry-After, when it sent one. */
  retryAfterMs: number | null
}

export class SlackFailure extends Error {
  constructor(readonly detail: SlackCallError) {
    super(`Slack call failed: ${detail.code}`)
    this.name = 'SlackFailure'
  }
}

export interface SlackClient {
  post(message: SlackMessage): Promise<MessageRef>
  update(ref: MessageRef, message: SlackMessage): Promise<void>
  ephemeral(channel: string, user: string, text: string): Promise<void>
}

/** Errors that no retry can fix for this message. */
const PERMANENT = new Set([
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'message_not_found',
  'cant_update_message',
  'edit_window_closed',
  'invalid_blocks',
  'invalid_blocks_format',
  'msg_too_long',
  'no_text',
  'invalid_arguments',
  'user_not_in_channel',
])

const silent: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
}

export function classify(e: unknown): SlackCallError {
  const x = e as { code?: string; data?: { error?: string }; statusCode?: number; retryAfter?: number }
  switch (x.code ?? '') {
    case 'slack_webapi_platform_error': {
      const code = String(x.data?.error ?? 'unknown_error').slice(0, 64)
      return { code, retryable: !PERMANENT.has(code), retryAfterMs: null }
    }
    case 'slack_webapi_rate_limited_error':
      return { code: 'ratelimited', retryable: true, retryAfterMs: (x.retryAfter ?? 1) * 1000 }
    case 'slack_webapi_http_error':
      return { code: `http_${x.statusCode ?? 0}`, retryable: true, retryAfterMs: null }
    case 'slack_webapi_request_error':
      return { code: 'network', retryable: true, retryAfterMs: null }
  }
  if ((e as Error)?.name === 'TimeoutError' || (e as Error)?.name === 'AbortError')
    return { code: 'timeout', retryable: true, retryAfterMs: null }
  return { code: 'unknown_error', retryable: true, retryAfterMs: null }
}

export function createSlackClient(
  cfg: SlackConfig,
  token: string,
  opts: { timeoutMs?: number } = {},
): SlackClient {
  const web = new WebClient(token, {
    slackApiUrl: cfg.apiUrl,
    logger: silent,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: opts.timeoutMs ?? 10_000,
    // Only method names are called, never absolute URLs an interaction payload could smuggle in.
    allowAbsoluteUrls: false,
  })
  const call = async (method: string, args: Record<string, unknown>) => {
    try {
      return await web.apiCall(method, args)
    } catch (e) {
      throw new SlackFailure(classify(e))
    }
  }
  // Nothing in Airlock's messages should turn into a mention or an unfurled link.
  const inert = { unfurl_links: false, unfurl_media: false, link_names: false, parse: 'none' }
  return {
    async post(m) {
      const r = (await call('chat.postMessage', {
        channel: cfg.channel,
        text: m.text,
        blocks: m.blocks,
        ...inert,
      })) as unknown as Record<string, unknown>
      const channel = typeof r['channel'] === 'string' ? r['channel'] : cfg.channel
      const ts = r['ts']
      if (typeof ts !== 'string')
        throw new SlackFailure({ code: 'no_ts', retryable: true, retryAfterMs: null })
      return { channel, ts }
    },
    async update(ref, m) {
      await call('chat.update', {
        channel: ref.channel,
        ts: ref.ts,
        text: m.text,
        blocks: m.blocks,
        link_names: false,
        parse: 'none',
      })
    },
    async ephemeral(channel, user, text) {
      await call('chat.postEphemeral', { channel, user, text, link_names: false, parse: 'none' })
    },
  }
}
